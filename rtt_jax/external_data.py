"""Data the shipped experiments read that does not ship with the package, and
where each is found.

A dataset is a directory: the environment variable ``env`` when it is set,
else ``<checkout>/../shared/data/<name>`` (a data folder beside the checkout;
``<checkout>`` is the directory that holds the ``rtt_jax`` package, found from
this file, so the default does not depend on where the configs live).
The directory is resolved when a config is built, not when this module is
imported, so setting the variable in a notebook after the import works.

Each entry names the files the experiments read and where their
documentation says how to get them. A leaf module (it imports nothing of
the package): configs and the experiment runner both read it.
``tests/test_experiment_data.py`` plans
every shipped experiment and variant and holds each file path in their runs
to one of: made by a run or step it needs, a file of the checkout, or a file
of a dataset listed here.
"""
from __future__ import annotations

import dataclasses
import os

# <checkout>/rtt_jax/external_data.py -> <checkout>
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class ExternalData:
    name: str
    env: str  # the variable that points at the directory
    files: tuple[str, ...]  # what the experiments read from it
    doc: str  # checkout-relative page (and section) that says how to get it
    source: str  # where the files come from

    def default_dir(self) -> str:
        return os.path.normpath(os.path.join(CHECKOUT, "..", "shared", "data", self.name))

    def directory(self) -> str:
        """``$env``, else the folder beside the checkout."""
        return os.environ.get(self.env) or self.default_dir()

    def path(self, filename: str) -> str:
        if filename not in self.files:
            raise ValueError(f"{self.name}: {filename!r} is not one of its files {self.files}")
        return os.path.join(self.directory(), filename)

    def how_to_get(self) -> str:
        """One line for an error message: where the files go and where it is documented."""
        return (f"put {self.name} ({self.source}) in {self.directory()} or set ${self.env} "
                f"to its directory; see {self.doc}")


LEE2023 = ExternalData(
    name="lee2023", env="RTT_LEE2023_DIR",
    files=("train_3digit_1000.txt", "train_3digit_3000.txt", "train_3digit_10000.txt",
           "test_10000.txt", "paper_sample_efficiency.csv"),
    doc="docs/reproductions.md#data",
    source="Lee et al. 2023's balanced 3-digit addition files, MIT, "
           "github.com/lee-ny/teaching_arithmetic")

DATASETS = (LEE2023,)


def owner(path: str) -> ExternalData | None:
    """The dataset whose directory holds ``path``, if any."""
    full = os.path.abspath(path)
    for data in DATASETS:
        if os.path.dirname(full) == os.path.abspath(data.directory()):
            return data
    return None
