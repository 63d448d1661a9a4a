"""TransferTable: a mapping's mesh transfers as columns, read as a sequence of Transfer records.

A VGG-8 on a 4096-tile mesh makes about 4.7 k transfers; building a frozen Transfer and its XYRoute
for each costs more than the rest of the traffic model, while a sweep reads only their sums and
the stage building only a few fields per transfer. So the mapping stores each as a plain tuple;
the Transfer records (with their routes) are built when an item is first read, all at once, and
kept. Reading it as a sequence (len, index, slice, iteration, ==) gives exactly the
records a tuple of Transfers would hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from recpim.pim.workload import Transfer, TransferKind, XYRoute

Row = tuple[str, str, int, TransferKind, tuple[str, ...], int, int]   # producer, consumer, bytes, kind, via, src, dst


class TransferTable(Sequence[Transfer]):
    """Rows (producer, consumer, bytes, kind, via, src tile, dst tile) of the mesh transfers, and
    their hops (XY-routing, Manhattan distances); tiles index `coords`, the mesh (row, col) of
    every tile."""

    __slots__ = ("rows", "hops", "_coords", "_mesh_cols", "_records", "_routes")

    def __init__(self, rows: list[Row], coords: Sequence[tuple[int, int]], mesh_cols: int,
                 hops: list[int] | None = None):
        """`hops`: each row's Manhattan distance, when the caller has them (else worked out here)."""
        self.rows = rows
        self.hops = hops if hops is not None else \
            [abs(coords[dst][0] - coords[src][0]) + abs(coords[dst][1] - coords[src][1]) for *_, src, dst in rows]
        self._coords = coords
        self._mesh_cols = mesh_cols
        self._records: tuple[Transfer, ...] | None = None
        self._routes: dict[int, XYRoute] = {}   # routes read before the records were built

    @classmethod
    def of(cls, records: Sequence[Transfer]) -> TransferTable:
        """The table of given records (a hand-built MappingResult's tuple), which it keeps."""
        if isinstance(records, TransferTable):
            return records
        table = cls([], (), 0)
        table.rows = [(t.producer, t.consumer, t.num_bytes, t.kind, t.via, t.src_tile, t.dst_tile) for t in records]
        table.hops = [t.hops for t in records]
        table._records = tuple(records)
        return table

    def route(self, index: int) -> XYRoute:
        """The route of row `index` (the record's own once the records are built)."""
        if self._records is not None:
            return self._records[index].links
        route = self._routes.get(index)
        if route is None:
            *_, src, dst = self.rows[index]
            route = self._routes[index] = XYRoute(self._coords[src], self._coords[dst], self._mesh_cols)
        return route

    @property
    def total_bytes(self) -> int:
        return sum(row[2] for row in self.rows)

    @property
    def total_byte_hops(self) -> int:
        return sum(row[2] * hops for row, hops in zip(self.rows, self.hops, strict=True))

    def records(self) -> tuple[Transfer, ...]:
        if self._records is None:
            coords, width, routes = self._coords, self._mesh_cols, self._routes
            self._records = tuple(
                Transfer(producer, consumer, num_bytes,
                         routes[index] if index in routes else XYRoute(coords[src], coords[dst], width), kind, via,
                         src, dst)
                for index, (producer, consumer, num_bytes, kind, via, src, dst) in enumerate(self.rows))
        return self._records

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        return self.records()[index]

    def __iter__(self) -> Iterator[Transfer]:
        return iter(self.records())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TransferTable):
            return self.records() == other.records()
        return isinstance(other, tuple) and self.records() == other

    def __hash__(self) -> int:
        return hash(self.records())

    def __repr__(self) -> str:
        return f"TransferTable({len(self)} transfers)"

    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__ if name not in ("_records", "_routes")}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._records = None
        self._routes = {}
