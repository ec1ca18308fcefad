"""The registries of problems and models: a name -> where its class lives.

Entries are import paths, loaded on first use, so `surrolab --help` does not import dolfinx or torch.
A new problem or model is one new module plus one line here.
"""
from __future__ import annotations

import importlib

from surrolab.errors import SurrolabError

PROBLEMS = {
    "heat": "surrolab.solvers.fem.diffusion_reaction:HeatProblem",
    "diffusion_reaction": "surrolab.solvers.fem.diffusion_reaction:DiffusionReactionProblem",
    "cavity": "surrolab.solvers.fem.cavity:CavityProblem",
    "tube": "surrolab.solvers.fem.tube:TubeProblem",
    "dam": "surrolab.solvers.fem.dam:DamProblem",
    "cylinder": "surrolab.solvers.fem.cylinder:CylinderProblem",
    "smoke": "surrolab.solvers.fem.smoke:SmokeProblem",
    "poisson": "surrolab.solvers.fem.poisson_family:PoissonProblem",
    "mpm_blob_jelly": "surrolab.solvers.mpm.scenes:MpmBlobJelly",
    "mpm_blob_water": "surrolab.solvers.mpm.scenes:MpmBlobWater",
    "mpm_blob_sand": "surrolab.solvers.mpm.scenes:MpmBlobSand",
    "mpm_blob_plasticine": "surrolab.solvers.mpm.scenes:MpmBlobPlasticine",
    "mpm_blob_goop": "surrolab.solvers.mpm.scenes:MpmBlobGoop",
    "mpm_column_sand": "surrolab.solvers.mpm.scenes:MpmColumnSand",
    "mpm_dam_break_water": "surrolab.solvers.mpm.scenes:MpmDamBreakWater",
    "mpm_dam_break_goop": "surrolab.solvers.mpm.scenes:MpmDamBreakGoop",
    "mpm_multi_material": "surrolab.solvers.mpm.scenes:MpmMultiMaterial",
    "mpm_collider_jelly": "surrolab.solvers.mpm.scenes:MpmColliderJelly",
    "mpm_collider_plasticine": "surrolab.solvers.mpm.scenes:MpmColliderPlasticine",
}

MODELS = {
    "fno": "surrolab.surrogates.fno:FNOSurrogate",
    "t1": "surrolab.surrogates.t1:T1Surrogate",
    "unet": "surrolab.surrogates.unet:UNetSurrogate",
    "sinenet": "surrolab.surrogates.sinenet:SineNetSurrogate",
    "cape": "surrolab.surrogates.cape:CAPESurrogate",
    "gns": "surrolab.surrogates.gns:GNS",  # particle models: trained on MPM datasets
    "giorom": "surrolab.surrogates.giorom:GIOROM",
    "mgn": "surrolab.surrogates.meshgraphnets:MeshGraphNets",  # mesh models: trained on the FEM mesh itself
    "spon": "surrolab.surrogates.spon:SPON",  # operator models: trained on steady pairs (poisson)
}


def _load(kind: str, table: dict[str, str], name: str):
    if name not in table:
        raise SurrolabError(f"unknown {kind} {name!r}; available: {', '.join(sorted(table))}")
    module, attr = table[name].split(":")
    return getattr(importlib.import_module(module), attr)


def get_problem(name: str):
    """An instance of the registered problem `name`."""
    return _load("problem", PROBLEMS, name)()


def get_model_class(name: str):
    return _load("model", MODELS, name)
