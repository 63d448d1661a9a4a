"""The numba kernel of the compiled reader (compiled_reader.py): split, check and hash raw text bytes.

Imported only when the compiled reader runs (numba takes a while to import); numba compiles the
kernel on first use and caches the machine code on disk, so later processes load it at once.
The rules are written out in compiled_reader.py's docstring; they are the per-row reader's.
"""

from __future__ import annotations

import numba
import numpy as np

LABEL, DENSE_INT, HASHED, IGNORED = 0, 1, 2, 3
_PRIME = np.uint64(0x100000001B3)  # FNV-1a 64
_NEWLINE, _RETURN, _MINUS, _ZERO, _ONE, _NINE = 10, 13, 45, 48, 49, 57
_MAX_DIGITS = 18


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _parse_line(buf, begin, limit, roles, delimiter, start_state, modulus, single_row, log_table,
                out_label, out_dense, out_ids, row, big_row, big_column, big_value, num_big):  # pragma: no cover
    """Parse the line starting at `begin` (ending at the first "\\n" or at `limit`) into row `row`
    of the outputs. A dense integer x becomes log_table[max(x, 0)] (numpy's own log1p, tabulated),
    or, past the table, is listed in big_* for numpy to transform. Returns (the row is good, the
    position of its "\\n" or `limit`, the number of big_* entries)."""
    num_columns = roles.shape[0]
    ok = True
    column = 0
    dense_at = 0
    hashed_at = 0
    c = begin
    while True:
        if column >= num_columns:
            ok = False
            while c < limit and buf[c] != _NEWLINE:
                c += 1
            break
        role = roles[column]
        cell_begin = c
        if role == HASHED:  # FNV-1a over the cell's non-NUL bytes
            state = start_state[hashed_at]
            while c < limit:
                byte = buf[c]
                if byte == delimiter or byte == _NEWLINE:
                    break
                if byte != 0:
                    state = (state ^ np.uint64(byte)) * _PRIME
                c += 1
            if c == cell_begin or buf[cell_begin] == 0 or single_row[hashed_at]:
                out_ids[row, hashed_at] = 0
            else:
                out_ids[row, hashed_at] = np.int64(np.uint64(1) + state % modulus[hashed_at])
            hashed_at += 1
        elif role == DENSE_INT:  # -?[0-9]{1,18}, then NUL padding only; empty (or NUL first) is 0
            value = np.int64(0)
            digits = 0
            negative = False
            cell_ok = True
            in_padding = False
            while c < limit:
                byte = buf[c]
                if byte == delimiter or byte == _NEWLINE:
                    break
                if in_padding:
                    if byte != 0:
                        cell_ok = False
                elif _ZERO <= byte <= _NINE:
                    digits += 1
                    if digits <= _MAX_DIGITS:
                        value = value * 10 + (np.int64(byte) - _ZERO)
                elif byte == 0:
                    in_padding = True
                elif byte == _MINUS and c == cell_begin:
                    negative = True
                else:
                    cell_ok = False
                c += 1
            empty = c == cell_begin or buf[cell_begin] == 0
            if not empty and (digits < 1 or digits > _MAX_DIGITS):
                cell_ok = False
            ok = ok and cell_ok
            if negative or value == 0:
                out_dense[row, dense_at] = log_table[0]
            elif value < log_table.shape[0]:
                out_dense[row, dense_at] = log_table[value]
            else:
                big_row[num_big] = row
                big_column[num_big] = dense_at
                big_value[num_big] = value
                num_big += 1
            dense_at += 1
        elif role == LABEL:  # "0" or "1", then NUL padding only
            first = 0
            if c < limit and buf[c] != delimiter and buf[c] != _NEWLINE:
                first = np.int64(buf[c])
                c += 1
            label_ok = first == _ZERO or first == _ONE
            while c < limit:
                byte = buf[c]
                if byte == delimiter or byte == _NEWLINE:
                    break
                if byte != 0:
                    label_ok = False
                c += 1
            ok = ok and label_ok
            out_label[row] = 1.0 if first == _ONE else 0.0
        else:
            while c < limit and buf[c] != delimiter and buf[c] != _NEWLINE:
                c += 1
        column += 1
        if c >= limit or buf[c] == _NEWLINE:
            break
        c += 1  # the delimiter
    return ok and column == num_columns, c, num_big


@numba.njit(cache=True, nogil=True, boundscheck=False)
def parse_block(buf, begin, end, max_lines, roles, delimiter, start_state, modulus, single_row, log_table,
                out_label, out_dense, out_ids, out_line, first_out, first_index, bad_line, bad_begin, bad_end,
                big_row, big_column, big_value, num_big):  # pragma: no cover - compiled; tested through the reader
    """Parse up to max_lines lines of buf[begin:end] (each ends at "\\n", except perhaps the last).

    Good rows go to out_*[first_out:] (out_line: first_index + the line's ordinal in this call); bad
    ones to bad_* (the line's ordinal in this call, first byte, and end without its line break). Returns (lines parsed,
    good rows, bad rows, the position after the last line parsed)."""
    lines = 0
    good = 0
    bad = 0
    p = begin
    while lines < max_lines and p < end:
        row = first_out + good
        big_before = num_big
        ok, q, num_big = _parse_line(buf, p, end, roles, delimiter, start_state, modulus, single_row, log_table,
                                     out_label, out_dense, out_ids, row, big_row, big_column, big_value, num_big)
        line_end = q
        while line_end > p and buf[line_end - 1] == _RETURN:
            line_end -= 1
        if line_end < q:  # trailing carriage returns are not part of the last cell: parse again without
            ok, _, num_big = _parse_line(buf, p, line_end, roles, delimiter, start_state, modulus, single_row,
                                         log_table, out_label, out_dense, out_ids, row, big_row, big_column,
                                         big_value, big_before)
        if not ok:
            num_big = big_before  # the row's slot is reused by the next line: forget its big values
        if ok:
            out_line[row] = first_index + lines
            good += 1
        else:
            bad_line[bad] = lines
            bad_begin[bad] = p
            bad_end[bad] = line_end
            bad += 1
        lines += 1
        p = q + 1 if q < end else q
    return lines, good, bad, p, num_big


# ---- the memmap cache's read (cache.py): the split, range checks and the gather in one pass ----------------------
_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 2.0 ** -53
_MAX_DENSE = 44.0  # log(max(x, 0) + 1) of any int64 is below 43.7
OK, BAD_ROW_INDEX, BAD_ID, BAD_DENSE, BAD_LABEL = 0, 1, 2, 3, 4


@numba.njit(cache=True, nogil=True, boundscheck=False)
def gather_split(dense, sparse, label, row_index, code, split_state, train, train_plus_val, vocab, previous_row,
                 rows_read, out_dense, out_sparse, out_label, out_row, sizes):  # pragma: no cover - compiled
    """Copy the rows of split `code` (-1: every row) of one cached chunk into out_* and count every
    row's split into sizes[0..2], checking what is copied: row indices strictly increasing from
    previous_row and below rows_read (every row), ids within their vocabulary, dense features in
    [0, 44] (log1p of an int64), labels 0 or 1. The split is parsing.assign_splits's, bit for bit.

    Returns (rows copied, problem: OK or BAD_*, the chunk's row where it was found, the column)."""
    n = row_index.shape[0]
    num_dense = dense.shape[1]
    num_sparse = sparse.shape[1]
    out = 0
    last = previous_row
    for i in range(n):
        r = row_index[i]
        if r <= last or r >= rows_read:
            return out, BAD_ROW_INDEX, i, 0
        last = r
        z = np.uint64(r) * _GOLDEN_GAMMA + split_state + _GOLDEN_GAMMA
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
        uniform = np.float64(z >> np.uint64(11)) * _TO_UNIT
        split = 0 if uniform < train else (1 if uniform < train_plus_val else 2)
        sizes[split] += 1
        if code >= 0 and split != code:
            continue
        # Copy first, then check the whole row (no early exit inside the loops, so they vectorise).
        bad_id = False
        for f in range(num_sparse):
            value = np.int64(sparse[i, f])
            bad_id |= (value < 0) | (value >= vocab[f])
            out_sparse[out, f] = value
        bad_dense = False
        for f in range(num_dense):
            x = dense[i, f]
            bad_dense |= not (0.0 <= x <= _MAX_DENSE)
            out_dense[out, f] = x
        y = label[i]
        if bad_id or bad_dense or (y != 0.0 and y != 1.0):
            for f in range(num_sparse):
                if sparse[i, f] < 0 or sparse[i, f] >= vocab[f]:
                    return out, BAD_ID, i, f
            for f in range(num_dense):
                if not (0.0 <= dense[i, f] <= _MAX_DENSE):
                    return out, BAD_DENSE, i, f
            return out, BAD_LABEL, i, 0
        out_label[out] = y
        out_row[out] = r
        out += 1
    return out, OK, n, 0
