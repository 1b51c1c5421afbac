"""Graph stores behind one interface: ``open_store(settings)`` picks the configured one."""
from __future__ import annotations

from kgrec.kg.settings import Settings
from kgrec.kg.store.base import GraphCounts, GraphStore, Neighbour


def open_store(settings: Settings) -> GraphStore:
    """The Neo4j store when ``settings.store == "neo4j"``, else the embedded one under KGREC_HOME."""
    if settings.store == "neo4j":
        from kgrec.kg.store.neo4j import Neo4jStore

        return Neo4jStore(settings)
    from kgrec.kg.store.embedded import EmbeddedStore

    return EmbeddedStore(settings.store_dir)


__all__ = ["GraphCounts", "GraphStore", "Neighbour", "open_store"]
