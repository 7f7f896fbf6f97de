import clix_imports

clix_imports.use()  # the shared code: ansible.module_utils.clix_* (clix_imports.py)
