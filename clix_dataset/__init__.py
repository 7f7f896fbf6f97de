"""clix-dataset: the archive as one research dataset (Parquet partitioned by year and state, DuckDB
views over it, a generated codebook), built from the collected files only: never a live server,
never a running mongod."""

__version__ = "4"  # 4: histories, user keys, privacy classes
