"""recpim.arch.data: CTR data. The formats table (format_table.py) that the dataset opener (datasets.py)
reads, the text reader and the arrow reader (arrow_reader.py), the row types and hashing
(parsing.py), the memmap cache, the data's location and fingerprint, synthetic data and the schema."""
