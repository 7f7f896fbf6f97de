"""clix-derive: gStudio's derived data (activity timestamps, progress CSVs, MIT activity data)
recomputed from a collected school tree or a live server, with gStudio's own observable output.

Pure Python 3 with one dependency (``bson``, from pymongo) so that the same code runs natively
on the control node, in the project's container image and inside a gStudio container.
"""

__version__ = "1.0"

import clix_imports

clix_imports.use()  # the shared code: ansible.module_utils.clix_* (clix_imports.py)
