# STAND-IN for gstudio/doc/deployer/get_all_users_activity_timestamp_csvs.py (test fleet only).
# The stand-in manage.py recognises this file's name when it is fed to `manage.py shell`.
