"""The radius-graph timing runs and compares graphs of the intended size (about 20 neighbours each)."""
from surrolab.benchmarks.particle_graph_speed import measure


def test_both_radius_graphs_are_timed_on_graphs_of_the_intended_size():
    rows = measure(counts=(400,))
    assert [(r["dim"], r["particles"]) for r in rows] == [(2, 400), (3, 400)]
    for r in rows:
        assert 10 < r["edges"] / r["particles"] < 25  # ~20 less the neighbours cut off by the box's faces
        assert r["kd_tree_ms"] > 0 and r["hash_grid_ms"] > 0
