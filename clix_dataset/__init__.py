"""clix-dataset: the archive as one research dataset (Parquet partitioned by year and state, DuckDB
views over it, a generated codebook), built from the collected files only: never a live server,
never a running mongod."""

__version__ = "4"  # 4: histories, user keys, privacy classes

import clix_imports

clix_imports.use()  # the shared code: ansible.module_utils.clix_* (clix_imports.py)
