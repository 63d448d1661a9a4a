"""TransferTable: a mapping's mesh transfers as columns, read as a sequence of Transfer records.

A VGG-8 on a 4096-tile mesh makes about 4.7 k transfers; building a frozen Transfer and its XYRoute
for each costs more than the rest of the traffic model, while a sweep reads only their sums and
the stage building only a few fields per transfer. So the mapping stores the fields column by
column; the Transfer records (with their routes) are built when an item is first read, all at
once, and kept. Reading it as a sequence (len, index, slice, iteration, ==) gives exactly the
records a tuple of Transfers would hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from recpim.pim.workload import Transfer, TransferKind, XYRoute


class TransferTable(Sequence[Transfer]):
    """Columns of the mesh transfers (one row per transfer; tiles index `coords`, the mesh's
    (row, col) of every tile). Hops are the XY-routing (Manhattan) distances."""

    __slots__ = ("producers", "consumers", "num_bytes", "kinds", "vias", "src_tiles", "dst_tiles", "hops",
                 "_coords", "_mesh_cols", "_records")

    def __init__(self, coords: Sequence[tuple[int, int]], mesh_cols: int):
        self.producers: list[str] = []
        self.consumers: list[str] = []
        self.num_bytes: list[int] = []
        self.kinds: list[TransferKind] = []
        self.vias: list[tuple[str, ...]] = []
        self.src_tiles: list[int] = []
        self.dst_tiles: list[int] = []
        self.hops: list[int] = []
        self._coords = coords
        self._mesh_cols = mesh_cols
        self._records: tuple[Transfer, ...] | None = None

    @classmethod
    def of(cls, records: Sequence[Transfer]) -> TransferTable:
        """The table of given records (a hand-built MappingResult's tuple), which it keeps."""
        if isinstance(records, TransferTable):
            return records
        table = cls((), 0)
        for t in records:
            table.producers.append(t.producer)
            table.consumers.append(t.consumer)
            table.num_bytes.append(t.num_bytes)
            table.kinds.append(t.kind)
            table.vias.append(t.via)
            table.src_tiles.append(t.src_tile)
            table.dst_tiles.append(t.dst_tile)
            table.hops.append(t.hops)
        table._records = tuple(records)
        return table

    def add(self, producer: str, consumer: str, num_bytes: int, kind: TransferKind, via: tuple[str, ...],
            src: int, dst: int) -> None:
        """Append a row (while the mapping builds the table; never after it is read)."""
        (src_row, src_col), (dst_row, dst_col) = self._coords[src], self._coords[dst]
        self.producers.append(producer)
        self.consumers.append(consumer)
        self.num_bytes.append(num_bytes)
        self.kinds.append(kind)
        self.vias.append(via)
        self.src_tiles.append(src)
        self.dst_tiles.append(dst)
        self.hops.append(abs(dst_row - src_row) + abs(dst_col - src_col))

    def route(self, index: int) -> XYRoute:
        """The route of row `index` (the record's own once the records are built)."""
        if self._records is not None:
            return self._records[index].links
        return XYRoute(self._coords[self.src_tiles[index]], self._coords[self.dst_tiles[index]], self._mesh_cols)

    @property
    def total_bytes(self) -> int:
        return sum(self.num_bytes)

    @property
    def total_byte_hops(self) -> int:
        return sum(b * h for b, h in zip(self.num_bytes, self.hops, strict=True))

    def records(self) -> tuple[Transfer, ...]:
        if self._records is None:
            coords, width = self._coords, self._mesh_cols
            self._records = tuple(
                Transfer(producer, consumer, num_bytes, XYRoute(coords[src], coords[dst], width), kind, via, src, dst)
                for producer, consumer, num_bytes, kind, via, src, dst in zip(
                    self.producers, self.consumers, self.num_bytes, self.kinds, self.vias, self.src_tiles,
                    self.dst_tiles, strict=True))
        return self._records

    def __len__(self) -> int:
        return len(self.producers)

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
        return {name: getattr(self, name) for name in self.__slots__ if name != "_records"}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._records = None
