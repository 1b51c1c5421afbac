"""The Neo4j store, over Bolt with the official driver.

Writes are ``UNWIND $rows ... MERGE`` batches, one transaction per batch through
``session.execute_write`` (which retries transient errors), relationships grouped by
type and label pair so each batch is one plan with index lookups on both ends. Values
always travel as parameters; labels come from a fixed set and relationship types are
checked by ``kgrec.kg.identifiers.checked_type`` right before they are placed in a statement.
"""
from __future__ import annotations

import itertools
import re
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import neo4j
import numpy as np
import pandas as pd
from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable, SessionExpired

from kgrec.kg.errors import StoreError
from kgrec.kg.graph import GraphDelta, GraphExport, GraphPath, NodeRef, PathQuery, PathStep, RelKey
from kgrec.kg.identifiers import LABELS, checked_label, checked_type
from kgrec.kg.settings import Settings
from kgrec.kg.store.base import Changes, GraphCounts, GraphStore, Neighbour, Progress, with_entity_defaults
from kgrec.kg.to_graph import properties

LOOKUP_CHUNK = 50_000
DIFF_SHARE = 0.2
"""A relationship load at least this large against the stored count of its type is diffed
against the store instead of MERGEd row by row."""
_PROPERTY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
META = "KgrecMeta"
"""The label of the one node holding the store's version: a random ``epoch`` set when it is
created (again after ``clear``) and a ``generation`` bumped by every write transaction."""
_BUMP = (f"MERGE (m:{META} {{id: 'store'}}) ON CREATE SET m.epoch = randomUUID(), m.generation = 0 "
         "SET m.generation = m.generation + 1")
TYPE_COLUMN = "(type)"
"""The relationship type of each row in a grouped frame (never a property name)."""
VECTOR_INDEX = "item_vectors"
"""The HNSW vector index over :data:`VECTOR_PROPERTY` of :Item nodes."""
VECTOR_PROPERTY = "kgrec_vector"
VECTOR_BATCH = 5_000
VECTOR_OVERSAMPLE = 2
"""A vector search asks the index for this many times the neighbours wanted and keeps the
nearest: HNSW's candidate list grows with the number asked (on 5,000 clustered items, the
exact top 20 was within the 220 returned for 0.971 of queries when asking for 220, 0.987
asking for 440)."""


class Neo4jStore(GraphStore):
    kind = "neo4j"

    def __init__(self, settings: Settings) -> None:
        self.uri = settings.neo4j_uri or ""
        self.user = settings.neo4j_user
        self.database = settings.neo4j_database
        self.batch_size = settings.batch_size
        check_uri(self.uri)
        try:
            self.driver = neo4j.GraphDatabase.driver(self.uri, auth=(settings.neo4j_user, settings.neo4j_password or ""))
            self.driver.verify_connectivity()
        except (DriverError, Neo4jError, OSError, ValueError) as error:
            raise self._error(error, "cannot reach") from None
        self._ensure_schema()

    def _error(self, error: Exception, doing: str) -> StoreError:
        """One sentence for anything the driver or the server raises, naming what to check.
        (The driver has already retried what is worth retrying: managed transactions and
        ``execute_query`` retry transient errors themselves.)"""
        code = getattr(error, "code", None) or ""
        if isinstance(error, AuthError):
            return StoreError(f"Neo4j at {self.uri} refused user {self.user!r}: check KGREC_NEO4J_USER and "
                              "KGREC_NEO4J_PASSWORD")
        if code == "Neo.ClientError.Database.DatabaseNotFound":
            return StoreError(f"Neo4j at {self.uri} has no database {self.database!r}: check KGREC_NEO4J_DATABASE")
        if isinstance(error, (ServiceUnavailable, SessionExpired, OSError)):
            return StoreError(f"{doing} Neo4j at {self.uri} ({_first_line(error)}); is it running?")
        if isinstance(error, Neo4jError):
            return StoreError(f"Neo4j at {self.uri} refused an operation ({doing}): {_first_line(error)}")
        return StoreError(f"{doing} Neo4j at {self.uri}: {type(error).__name__}: {_first_line(error)}")

    def _query(self, cypher: str, **params: Any) -> list[neo4j.Record]:
        try:
            records, _, _ = self.driver.execute_query(cypher, params, database_=self.database)
        except (DriverError, Neo4jError, OSError) as error:
            raise self._error(error, "lost the connection to") from None
        return records

    def _write_batches(self, cypher: str, batches: Iterable[tuple[dict[str, Any], int]], progress: Progress | None) -> None:
        """Run ``cypher`` once per batch, each in its own write transaction; ``batches``
        yields (the statement's parameters, how many graph rows they write)."""
        def work(tx: neo4j.ManagedTransaction, params: dict[str, Any]) -> None:
            tx.run(cypher, params).consume()
            tx.run(_BUMP).consume()  # last, so the meta node is locked only while committing

        try:
            with self.driver.session(database=self.database) as session:
                for batch, written in batches:
                    session.execute_write(work, batch)
                    if progress:
                        progress(written)
        except (ServiceUnavailable, SessionExpired, OSError) as error:
            raise StoreError(
                f"lost the connection to Neo4j at {self.uri} during a load ({_first_line(error)}); "
                "loads are idempotent: run the same ingest again to complete it"
            ) from None
        except (DriverError, Neo4jError) as error:
            raise self._error(error, "writing to") from None

    def _ensure_schema(self) -> None:
        for label in (*LABELS, META):
            self._query(f"CREATE CONSTRAINT {label.lower()}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE")

    def version(self) -> str:
        records = self._query(f"MATCH (m:{META} {{id: 'store'}}) RETURN m.epoch AS epoch, m.generation AS generation")
        return f"{records[0]['epoch']}.{records[0]['generation']}" if records else "empty"

    def load(self, delta: GraphDelta, progress: Progress | None = None) -> None:
        self.load_stream([delta], progress)

    def load_stream(self, deltas: Iterable[GraphDelta], progress: Progress | None = None) -> None:
        """Nodes: CREATE for a label the store does not hold yet, else MERGE by id.

        Relationships, per (type, labels): CREATE when the store has none of that type;
        when the load is large against what the store holds (a re-ingest, a big
        increment) the existing pairs are read first and only new pairs are created and
        changed ones updated, which is what makes re-ingesting faster than the first load;
        a small increment is MERGEd. The types of one label pair and property set then go
        as one statement (the type a parameter): on a freshly started server, planning one
        statement per type cost more than writing them. Rows go as lists, sorted by source
        node (fewer page faults and lock hand-overs than maps in random order).

        What the store holds is read once, before the first delta, so a stream of deltas
        (a streamed ingest's chunks) is written as one load would be: a type the store
        lacked is CREATEd in every chunk. Pairs already stored are diffed only in a load
        of one delta; a stream MERGEs them (reading every stored pair per chunk would cost
        more than it saves)."""
        stream = iter(deltas)
        first, second = next(stream, None), next(stream, None)
        if first is None:
            return
        single = second is None
        # One delta (an item or a batch of changes from the API): only what it writes is
        # counted, not all of the store's relationship types (30 count queries on ml-100k,
        # each planned anew on a fresh server, were most of an added item's write).
        present = (self._counts(list(first.nodes), {rel.type for rel, frame in first.rels.items() if len(frame)})
                   if single else self.counts())
        for delta in ([first] if single else itertools.chain([first, second], stream)):
            self._load_one(delta, present, single, progress)

    def _load_one(self, delta: GraphDelta, present: GraphCounts, diff: bool, progress: Progress | None) -> None:
        for label, frame in delta.nodes.items():
            frame = frame.drop_duplicates("id", keep="last")
            rows = [[i, p] for i, p in zip(frame["id"].tolist(), properties(frame, ("id",)))]
            write = "CREATE" if not present.labels.get(label) else "MERGE"
            cypher = f"UNWIND $rows AS row {write} (n:{checked_label(label)} {{id: row[0]}}) SET n += row[1]"
            chunks = (rows[at:at + self.batch_size] for at in range(0, len(rows), self.batch_size))
            self._write_batches(cypher, (({"rows": chunk}, len(chunk)) for chunk in chunks), progress)
        writes: dict[str, list[tuple[RelKey, pd.DataFrame]]] = {"CREATE": [], "MERGE": []}
        for rel, frame in delta.rels.items():
            frame = frame.drop_duplicates(["src", "dst"], keep="last")
            existing = present.types.get(rel.type, 0)
            if existing == 0:
                writes["CREATE"].append((rel, frame))
            elif diff and len(frame) >= DIFF_SHARE * existing:
                new, changed, unchanged = self._diff(rel, frame)
                writes["CREATE"].append((rel, new))
                writes["MERGE"].append((rel, changed))
                if progress:
                    progress(unchanged)
            else:
                writes["MERGE"].append((rel, frame))
        for write, parts in writes.items():
            for (src, dst), frame in _by_labels(parts):
                self._write_rels(src, dst, frame, write, progress)

    def _write_rels(self, src: str, dst: str, frame: pd.DataFrame, write: str, progress: Progress | None) -> None:
        """Write the relationships of ``frame`` (``src``, ``dst``, :data:`TYPE_COLUMN` and
        property columns) from ``src`` nodes to ``dst`` nodes: one statement for all their types (the
        type is a checked parameter, ``$(...)``), so that a fresh server plans a handful of
        statements, not one per type. Each batch looks its nodes up once: the targets by id
        into a list first, then rows grouped by source node (``[src, [[target position,
        type, *properties], ...]]``, the frame is sorted by source), one source lookup per
        group and no index lookup per relationship."""
        columns = _property_columns(frame)
        values = [frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in ["src", "dst", TYPE_COLUMN, *columns]]
        if write == "CREATE":
            fields = ", ".join(f"`{c}`: out[{i + 2}]" for i, c in enumerate(columns))
            relationship = f"CREATE (a)-[r:$(out[1]) {{{fields}}}]->(b)"
        else:
            assignments = ", ".join(f"r.`{c}` = out[{i + 2}]" for i, c in enumerate(columns))
            relationship = "MERGE (a)-[r:$(out[1])]->(b)" + (f" SET {assignments}" if assignments else "")
        cypher = (
            # [b] keeps a missing target as [null], so positions stay aligned.
            f"UNWIND $targets AS target OPTIONAL MATCH (b:{checked_label(dst)} {{id: target}}) "
            "WITH collect([b]) AS targets "
            f"UNWIND $rows AS row MATCH (a:{checked_label(src)} {{id: row[0]}}) "
            f"UNWIND row[1] AS out WITH a, targets[out[0]][0] AS b, out WHERE b IS NOT NULL {relationship}"
        )
        self._write_batches(cypher, _by_source(values[0], list(zip(*values[1:])), self.batch_size), progress)

    def _diff(self, rel: RelKey, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
        """Split a load into pairs the store lacks, pairs whose properties differ, and the
        number of pairs already there as given."""
        columns = _property_columns(frame)
        fields = "".join(f", r.`{c}`" for c in columns)
        # One record per source node: far fewer records for the driver to decode.
        records = self._query(
            f"MATCH (a:{checked_label(rel.src)})-[r:`{checked_type(rel.type)}`]->(b:{checked_label(rel.dst)}) "
            f"RETURN a.id AS src, collect([b.id{fields}]) AS out"
        )
        sources = [r["src"] for r in records for _ in r["out"]]
        values = [row for r in records for row in r["out"]]
        stored = pd.DataFrame(values, columns=["dst", *[f"{c}__stored" for c in columns]]) if values else \
            pd.DataFrame(columns=["dst", *[f"{c}__stored" for c in columns]])
        stored.insert(0, "src", sources)
        joined = frame.merge(stored, on=["src", "dst"], how="left", indicator=True)
        new = joined["_merge"] == "left_only"
        differs = pd.Series(False, index=joined.index)
        for c in columns:
            mine, theirs = joined[c], joined[f"{c}__stored"]
            differs |= ~((mine == theirs) | (mine.isna() & theirs.isna()))
        changed = ~new & differs
        keep = ["src", "dst", *columns]
        return joined.loc[new, keep], joined.loc[changed, keep], int((~new & ~differs).sum())

    def write_interactions(self, events: pd.DataFrame) -> list[bool]:
        """One write transaction for the whole batch (retried by the driver as a unit): an
        event whose item is gone is skipped and reported, the others are MERGEd."""
        rows = [[u, i, _number(r), _number(t), at] for at, (u, i, r, t) in enumerate(zip(
            events["user_id"].tolist(), events["item_id"].tolist(), events["rating"].tolist(), events["timestamp"].tolist()))]

        def work(tx: neo4j.ManagedTransaction) -> list[int]:
            result = tx.run(
                "UNWIND $rows AS row MATCH (i:Item {id: row[1]}) MERGE (u:User {id: row[0]}) "
                "MERGE (u)-[r:INTERACTED]->(i) SET r.rating = row[2], r.ts = row[3] RETURN row[4] AS at",
                rows=rows,
            )
            return [record["at"] for record in result]

        try:
            with self.driver.session(database=self.database) as session:
                done = set(session.execute_write(work)) if rows else set()
        except ServiceUnavailable as error:
            raise StoreError(f"lost the connection to Neo4j at {self.uri} ({_first_line(error)}); nothing was written") from None
        except Neo4jError as error:
            raise StoreError(f"Neo4j refused a write: {_first_line(error)}") from None
        return [at in done for at in range(len(rows))]

    # --- item vectors (retrieval; derived data, so no version bump) ----------------------

    def vectors_token(self) -> str | None:
        """The token of the item vectors last written (:meth:`write_item_vectors`), or None."""
        records = self._query(f"MATCH (m:{META} {{id: 'store'}}) RETURN properties(m)['vectors'] AS token")
        return records[0]["token"] if records else None

    def write_item_vectors(self, ids: Sequence[str], vectors: np.ndarray, token: str,
                           progress: Progress | None = None) -> None:
        """Store ``vectors`` ``(len(ids), d)`` (unit length: the index compares by cosine) on
        the :Item nodes as :data:`VECTOR_PROPERTY`, build the vector index over them when it
        is missing or of another dimension, wait until it is online, then record ``token``.
        The vectors are derived from the catalog, not part of it: writing them leaves
        :meth:`version` unchanged, so the replicas serving this store do not refresh for it."""
        vectors = np.asarray(vectors, dtype=np.float32)
        dim = int(vectors.shape[1])
        indexes = self._query("SHOW VECTOR INDEXES YIELD name, options WHERE name = $name RETURN options", name=VECTOR_INDEX)
        if indexes and int(indexes[0]["options"]["indexConfig"]["vector.dimensions"]) != dim:
            self._query(f"DROP INDEX {VECTOR_INDEX}")
        cypher = (f"UNWIND $rows AS row MATCH (n:Item {{id: row[0]}}) "
                  f"CALL db.create.setNodeVectorProperty(n, '{VECTOR_PROPERTY}', row[1])")

        def work(tx: neo4j.ManagedTransaction, rows: list[list[object]]) -> None:
            tx.run(cypher, rows=rows).consume()

        try:
            with self.driver.session(database=self.database) as session:
                for at in range(0, len(ids), VECTOR_BATCH):
                    rows = [[str(i), v] for i, v in zip(ids[at:at + VECTOR_BATCH], vectors[at:at + VECTOR_BATCH].tolist())]
                    session.execute_write(work, rows)
                    if progress:
                        progress(len(rows))
        except (DriverError, Neo4jError, OSError) as error:
            raise self._error(error, "writing item vectors to") from None
        self._query(f"CREATE VECTOR INDEX {VECTOR_INDEX} IF NOT EXISTS FOR (n:Item) ON n.{VECTOR_PROPERTY} "
                    f"OPTIONS {{indexConfig: {{`vector.dimensions`: {dim}, `vector.similarity_function`: 'cosine', `vector.hnsw.m`: 32, "
                    "`vector.hnsw.ef_construction`: 200}}")
        self._query("CALL db.awaitIndex($name, 600)", name=VECTOR_INDEX)
        self._query(f"MERGE (m:{META} {{id: 'store'}}) ON CREATE SET m.epoch = randomUUID(), m.generation = 0 "
                    "SET m.vectors = $token", token=token)

    def search_item_vectors(self, vectors: np.ndarray, n: int) -> list[list[str]]:
        """Per query vector, the ids of the ``n`` items nearest to it by cosine in the vector
        index (HNSW, approximate; :data:`VECTOR_OVERSAMPLE`), nearest first; all queries in
        one statement."""
        rows = [{"at": at, "vector": v} for at, v in enumerate(np.asarray(vectors, dtype=np.float32).tolist())]
        records = self._query(
            "UNWIND $rows AS row CALL (row) { "
            f"CALL db.index.vector.queryNodes('{VECTOR_INDEX}', $asked, row.vector) YIELD node, score "
            "RETURN collect(node.id)[..$n] AS ids } RETURN row.at AS at, ids",
            rows=rows, n=int(n), asked=int(n) * VECTOR_OVERSAMPLE,
        )
        found: list[list[str]] = [[] for _ in rows]
        for record in records:
            found[record["at"]] = list(record["ids"])
        return found

    def existing_ids(self, label: str, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        found: set[str] = set()
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            records = self._query(
                f"UNWIND $ids AS id MATCH (n:{checked_label(label)} {{id: id}}) RETURN n.id AS id",
                ids=wanted[start:start + LOOKUP_CHUNK],
            )
            found.update(r["id"] for r in records)
        return found

    def counts(self) -> GraphCounts:
        return self._counts(LABELS)

    def _counts(self, labels: Iterable[str], types: set[str] | None = None) -> GraphCounts:
        """The counts of ``labels`` and of the store's relationship types (those in
        ``types`` only, when given), from the count store."""
        found = {label: self._query(f"MATCH (n:{checked_label(label)}) RETURN count(n) AS n")[0]["n"] for label in labels}
        stored = {}
        for record in self._query("CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType AS t ORDER BY t"):
            if types is not None and record["t"] not in types:
                continue
            count = self._query(f"MATCH ()-[r:`{checked_type(record['t'])}`]->() RETURN count(r) AS n")[0]["n"]
            if count:
                stored[record["t"]] = count
        return GraphCounts(found, stored)

    def node(self, ref: NodeRef) -> dict[str, object] | None:
        records = self._query(f"MATCH (n:{checked_label(ref.label)} {{id: $id}}) RETURN properties(n) AS p", id=ref.id)
        return dict(records[0]["p"]) if records else None

    def compare(self, delta: GraphDelta) -> dict[str, Changes]:
        """As :meth:`GraphStore.compare`, without an export: each chunk of rows is matched
        on the server by id (nodes) or by its two ends (relationships) and only two counts
        come back (how many are there, how many as given); a relationship load large
        against the stored count of its type is diffed against one read of the type, as
        :meth:`load` does."""
        present = self.counts()
        same = ("sum(CASE WHEN all(k IN keys(row[{at}]) WHERE {var}[k] = row[{at}][k]) THEN 1 ELSE 0 END) AS same")
        out: dict[str, Changes] = {}

        def count(cypher: str, rows: list[list[Any]]) -> tuple[int, int]:
            existing = unchanged = 0
            for start in range(0, len(rows), LOOKUP_CHUNK):
                [record] = self._query(cypher, rows=rows[start:start + LOOKUP_CHUNK])
                existing, unchanged = existing + record["existing"], unchanged + (record["same"] or 0)
            return existing, unchanged

        for label, frame in delta.nodes.items():
            frame = frame.drop_duplicates("id", keep="last")
            rows = [[i, p] for i, p in zip(frame["id"].tolist(), properties(frame, ("id",)))]
            existing, unchanged = count(
                f"UNWIND $rows AS row MATCH (n:{checked_label(label)} {{id: row[0]}}) "
                f"RETURN count(n) AS existing, {same.format(at=1, var='n')}", rows) if present.labels.get(label) else (0, 0)
            out[label] = out.get(label, Changes()).plus(Changes(len(rows) - existing, existing - unchanged, unchanged))
        for rel, frame in delta.rels.items():
            frame = frame.drop_duplicates(["src", "dst"], keep="last")
            stored = present.types.get(rel.type, 0)
            if stored and len(frame) >= DIFF_SHARE * stored:  # large against the store: one read of the type, as load does
                new, changed, unchanged = self._diff(rel, frame)
                out[rel.type] = out.get(rel.type, Changes()).plus(Changes(len(new), len(changed), unchanged))
                continue
            rows = [[a, b, p] for a, b, p in zip(frame["src"].tolist(), frame["dst"].tolist(),
                                                 properties(frame, ("src", "dst")))]
            existing, unchanged = count(
                f"UNWIND $rows AS row MATCH (a:{checked_label(rel.src)} {{id: row[0]}})-[r:`{checked_type(rel.type)}`]->"
                f"(b:{checked_label(rel.dst)} {{id: row[1]}}) RETURN count(r) AS existing, {same.format(at=2, var='r')}",
                rows) if present.types.get(rel.type) else (0, 0)
            out[rel.type] = out.get(rel.type, Changes()).plus(Changes(len(rows) - existing, existing - unchanged, unchanged))
        return out

    def neighbours(self, ref: NodeRef, limit: int = 100) -> list[Neighbour]:
        records = self._query(
            f"MATCH (n:{checked_label(ref.label)} {{id: $id}})-[r]-(m) "
            "WITH type(r) AS t, startNode(r) = n AS forward, labels(m)[0] AS label, m.id AS id "
            "RETURN t, forward, label, id ORDER BY t, label, id LIMIT $limit",
            id=ref.id, limit=limit,
        )
        return [Neighbour(NodeRef(r["label"], r["id"]), r["t"], r["forward"]) for r in records]

    def find_paths(self, queries: Sequence[PathQuery]) -> list[list[GraphPath]]:
        """Queries of one shape (end labels, hops, types, limit) go as one ``UNWIND``
        statement, all of them in one read transaction. The types are written into the
        pattern (checked first) so that the expansion follows only those relationships."""
        found: list[list[GraphPath]] = [[] for _ in queries]
        shapes: dict[tuple[str, str, int, tuple[str, ...] | None, int], list[dict[str, object]]] = {}
        for position, query in enumerate(queries):
            if query.src == query.dst or query.limit < 1 or query.types is not None and not query.types:
                continue
            types = None if query.types is None else tuple(sorted(query.types))
            shape = (query.src.label, query.dst.label, int(query.max_hops), types, int(query.limit))
            shapes.setdefault(shape, []).append({"at": position, "src": query.src.id, "dst": query.dst.id})

        def work(tx: neo4j.ManagedTransaction) -> list[tuple[int, list[list[Any]]]]:
            out = []
            for shape, rows in shapes.items():
                result = tx.run(_paths_statement(*shape[:4]), rows=rows, limit=shape[4])
                out += [(record["at"], record["found"]) for record in result]
            return out

        try:
            with self.driver.session(database=self.database) as session:
                answers = session.execute_read(work) if shapes else []
        except (DriverError, Neo4jError, OSError) as error:
            raise self._error(error, "lost the connection to") from None
        for position, paths in answers:
            found[position] = [
                GraphPath(tuple(NodeRef(label, node_id) for label, node_id in nodes),
                          tuple(PathStep(t, f) for t, f in zip(types, forward)))
                for nodes, types, forward in paths
            ]
        return found

    def remove_item(self, item_id: str) -> bool:
        records = self._query(
            "MATCH (n:Item {id: $id}) DETACH DELETE n WITH count(*) AS n "
            f"FOREACH (_ IN CASE WHEN n > 0 THEN [1] ELSE [] END | {_BUMP}) RETURN n",
            id=item_id,
        )
        return bool(records and records[0]["n"])

    def export(self) -> GraphExport:
        """The whole graph. Relationships are streamed type by type as lists (property keys
        read first), each end turned into its node's position as it arrives, so that
        memory holds integer arrays, not a record or a dict per relationship (10M
        interactions: ~0.5 GB, not ~10 GB)."""
        nodes: dict[str, pd.DataFrame] = {}
        for label in LABELS:
            rows = [dict(r["p"]) for r in self._query(f"MATCH (n:{label}) RETURN properties(n) AS p")]
            frame = pd.DataFrame(rows, columns=["id"] if not rows else None)
            nodes[label] = frame.sort_values("id", kind="stable").reset_index(drop=True)
        positions = {label: {node_id: n for n, node_id in enumerate(f["id"].tolist())} for label, f in nodes.items()}
        edges: dict[RelKey, pd.DataFrame] = {}
        for record in self._query("CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType AS t ORDER BY t"):
            rel_type = checked_type(record["t"])
            keys = sorted(r["k"] for r in self._query(f"MATCH ()-[r:`{rel_type}`]->() UNWIND keys(r) AS k RETURN DISTINCT k"))
            if not all(_PROPERTY.fullmatch(k) for k in keys):
                raise StoreError(f"unsafe relationship property name among {keys}")
            fields = "".join(f", r.`{k}`" for k in keys)
            groups: dict[tuple[str, str], list[list[Any]]] = {}
            try:
                with self.driver.session(database=self.database) as session:
                    result = session.run(f"MATCH (a)-[r:`{rel_type}`]->(b) RETURN labels(a)[0], a.id, labels(b)[0], b.id{fields}")
                    for values in result:
                        src_label, src, dst_label, dst = values[0], values[1], values[2], values[3]
                        src_at, dst_at = positions[src_label].get(src), positions[dst_label].get(dst)
                        if src_at is None or dst_at is None:
                            # Each query sees what was committed when it ran: a relationship to a
                            # node written after its label was read joins at the next export.
                            continue
                        columns = groups.get((src_label, dst_label))
                        if columns is None:
                            columns = groups[(src_label, dst_label)] = [array("q"), array("q"), *([] for _ in keys)]
                        columns[0].append(src_at)
                        columns[1].append(dst_at)
                        for column, value in zip(columns[2:], values[4:]):
                            column.append(value)
            except (DriverError, Neo4jError, OSError) as error:
                raise self._error(error, "lost the connection to") from None
            for (src_label, dst_label), columns in sorted(groups.items()):
                out = pd.DataFrame({"src": np.frombuffer(columns[0], dtype=np.int64),
                                    "dst": np.frombuffer(columns[1], dtype=np.int64),
                                    **{k: _column(v) for k, v in zip(keys, columns[2:])}})
                out = out.dropna(axis=1, how="all") if len(out.columns) > 2 else out
                edges[RelKey(rel_type, src_label, dst_label)] = out.sort_values(["src", "dst"], kind="stable").reset_index(drop=True)
        return GraphExport(with_entity_defaults(nodes), dict(sorted(edges.items())))

    def clear(self) -> None:
        try:
            with self.driver.session(database=self.database) as session:
                session.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 50000 ROWS").consume()
                session.run("MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 50000 ROWS").consume()
                session.run(_BUMP).consume()
        except (DriverError, Neo4jError, OSError) as error:
            raise self._error(error, "clearing the graph in") from None

    def close(self) -> None:
        self.driver.close()


BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def check_uri(uri: str) -> None:
    """kgrec speaks Bolt: an ``http://`` URI (Neo4j's browser port) cannot work."""
    scheme = uri.partition("://")[0].lower() if "://" in uri else ""
    if scheme not in BOLT_SCHEMES:
        raise StoreError(f"KGREC_NEO4J_URI {uri!r} is not a Bolt address: use bolt://HOST:7687 or neo4j://HOST:7687 "
                         f"(schemes {', '.join(BOLT_SCHEMES)}), not Neo4j's HTTP port")


def _by_labels(parts: Iterable[tuple[RelKey, pd.DataFrame]]) -> Iterator[tuple[tuple[str, str], pd.DataFrame]]:
    """The relationship frames of each (source label, target label, property columns) as
    one frame with a :data:`TYPE_COLUMN` (each type checked), sorted by source then target."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[pd.DataFrame]] = {}
    for rel, frame in parts:
        if len(frame):
            shape = (rel.src, rel.dst, tuple(_property_columns(frame)))
            groups.setdefault(shape, []).append(frame.assign(**{TYPE_COLUMN: checked_type(rel.type)}))
    for (src, dst, _), frames in groups.items():
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        yield (src, dst), frame.sort_values(["src", "dst"], kind="stable")


def _by_source(sources: list[Any], rows: list[tuple[Any, ...]], size: int) -> Iterator[tuple[dict[str, Any], int]]:
    """Batches of about ``size`` relationships: ``targets``, the distinct target ids, and
    ``rows``, groups ``[source, [[target position, *properties], ...]]``; runs of the same
    source (sorted input) become one group."""
    groups: list[list[Any]] = []
    targets: dict[Any, int] = {}
    count = 0
    for source, (target, *values) in zip(sources, rows):
        if not groups or groups[-1][0] != source:
            if count >= size:
                yield {"targets": list(targets), "rows": groups}, count
                groups, targets, count = [], {}, 0
            groups.append([source, []])
        groups[-1][1].append([targets.setdefault(target, len(targets)), *values])
        count += 1
    if groups:
        yield {"targets": list(targets), "rows": groups}, count


def _paths_statement(src_label: str, dst_label: str, max_hops: int, types: tuple[str, ...] | None) -> str:
    """Per row ``{at, src, dst}``: the simple paths between the two nodes in the contract's
    order, cut to ``$limit``."""
    pattern = ":" + "|".join(checked_type(t) for t in types) if types else ""
    return (
        "UNWIND $rows AS row CALL (row) { "
        f"MATCH p = (a:{checked_label(src_label)} {{id: row.src}})-[{pattern}*1..{int(max_hops)}]-(b:{checked_label(dst_label)} {{id: row.dst}}) "
        "WHERE all(i IN range(0, length(p) - 1) WHERE NOT nodes(p)[i] IN nodes(p)[i + 1..]) "
        "WITH p, [n IN nodes(p) | n.id] AS ids, [r IN relationships(p) | type(r)] AS ts "
        "ORDER BY length(p), ids, ts LIMIT $limit "
        "RETURN collect([[n IN nodes(p) | [labels(n)[0], n.id]], ts, "
        "[i IN range(0, length(p) - 1) | startNode(relationships(p)[i]) = nodes(p)[i]]]) AS found } "
        "RETURN row.at AS at, found"
    )


def _property_columns(frame: pd.DataFrame) -> list[str]:
    """A relationship frame's property columns, checked before they are named in Cypher."""
    columns = [c for c in frame.columns if c not in ("src", "dst", TYPE_COLUMN)]
    if not all(_PROPERTY.fullmatch(c) for c in columns):
        raise StoreError(f"unsafe relationship property name among {columns}")
    return columns


def _column(values: list[Any]) -> pd.Series:
    """A property column: float64 when every value is a number or absent (NaN), else objects."""
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        return pd.Series(np.array([np.nan if v is None else v for v in values], dtype=np.float64))
    return pd.Series(values, dtype=object)


def _number(value: Any) -> float | None:
    """A float property value, None (no property) for NaN."""
    return None if value is None or value != value else float(value)


def _first_line(error: BaseException) -> str:
    """The server's message without the driver's metadata, else the error's first line."""
    text = str(getattr(error, "message", None) or error).strip() or type(error).__name__
    return text.splitlines()[0]
