"""Break each promise on purpose and check that a unit test notices.

    .venv/bin/python tests/mutations.py            # every mutation
    .venv/bin/python tests/mutations.py lock-dead   # some, by name
    .venv/bin/python tests/mutations.py --list

Each mutation is one exact edit of one file. It is applied to a fresh copy of the tracked tree (the
checkout is never touched), then the unit tests named for it run there: the mutation is caught when
they fail. The same tests are run first on the unmodified copy, where they must pass. An edit that no
longer matches the code exactly once is reported as such: update the mutation with the code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent


class Mutation(NamedTuple):
    name: str
    what: str
    edits: tuple  # (path, exact old text, new text), each old text found exactly once
    tests: tuple


MUTATIONS = [
    Mutation("install-skipped-when-stale", "a host whose private Python is out of date is not installed again",
             (("action_plugins/clix_connect.py", " and lines[1].strip() == want\n", "\n"),),
             ("tests/unit/test_per_school_tasks.py::"
              "test_a_host_gets_its_environment_unless_it_has_this_fingerprint_from_a_bundle_made_once",)),
    Mutation("payload-stale", "a module's payload kept between runs is reused after its module_utils changed",
             (("action_plugins/clix_payloads.py",
               "                    digest.update(hashlib.sha256(source.read()).digest())\n",
               "                    source.read()\n"),),
             ("tests/unit/test_per_school_tasks.py::"
              "test_a_modules_payload_is_built_once_per_change_of_its_sources_never_reused_after_one",)),
    Mutation("payload-anyones", "a kept payload in a folder others can write is shipped to the schools",
             (("action_plugins/clix_payloads.py",
               "    if not (kept.is_dir() and private(kept.parent) and private(kept)):\n",
               "    if not kept.is_dir():\n"),),
             ("tests/unit/test_per_school_tasks.py::"
              "test_a_modules_payload_is_built_once_per_change_of_its_sources_never_reused_after_one",)),
    Mutation("lock-kept-after-run", "a run that ends holding the lock (no host left to run the finish) leaves it",
             (("library/clix_archive_lock.py", "        if gone:\n            give_back(path, me, check=False)\n", ""),),
             ("tests/unit/test_archive_lock.py::test_the_lock_is_given_back_when_its_run_ends_holding_it",)),
    Mutation("verify-size-only", "verify checks sizes only, never contents",
             (("module_utils/clix_manifest.py",
               '        elif found["sha256"] != entry["sha256"]:\n'
               '            problems.append(dict(path=rel, problem="content differs (sha256 mismatch)"))\n',
               ""),),
             ("tests/unit/test_manifest_verify.py::test_differences_name_each_kind_of_change",
              "tests/unit/test_manifest_verify.py::test_verify_reports_every_school_and_fails_on_any_difference")),
    Mutation("verify-ignores-unlisted", "verify ignores files that are not in the manifest",
             (("module_utils/clix_manifest.py",
               "    for rel in sorted(set(now.files) - set(recorded)):\n",
               "    for rel in []:\n"),),
             ("tests/unit/test_manifest_verify.py::test_differences_name_each_kind_of_change",
              "tests/unit/test_manifest_verify.py::test_a_folder_replaced_by_a_link_is_not_followed")),
    Mutation("snapshot-unverified", "a pulled snapshot is swapped in without being verified",
             (("library/clix_pull.py",
               '    problems = verify_snapshot(target, item["expect"] or {})\n',
               "    problems = []\n"),),
             ("tests/unit/test_pull.py::test_a_snapshot_is_swapped_in_only_once_verified",
              "tests/unit/test_pull.py::test_snapshots_pulled_by_one_rsync_are_each_swapped_in_only_once_verified")),
    Mutation("lock-dead", "the lock treats every holder as dead",
             (("library/clix_archive_lock.py",
               '        return not alive(int(holder.get("pid", 0) or 0))\n    return bool(stale_after',
               "        return True\n    return True or bool(stale_after"),),
             ("tests/unit/test_archive_lock.py::test_a_live_holder_is_never_taken_over",
              "tests/unit/test_archive_lock.py::test_a_holder_on_another_host_is_never_taken_over")),
    Mutation("lock-race", "taking over a dead holder's lock is not atomic (the archive folder is not flocked)",
             (("library/clix_archive_lock.py",
               "    try:\n        fcntl.flock(fd, fcntl.LOCK_EX)\n    except OSError:\n",
               "    try:\n        pass\n    except OSError:\n"),),
             ("tests/unit/test_archive_lock.py::test_two_takeovers_of_a_dead_holder_never_both_win",)),
    Mutation("lock-race-guard-file", "the same where folders cannot be flocked (the guard file is not flocked)",
             (("library/clix_archive_lock.py",
               "0o600)\n        fcntl.flock(fd, fcntl.LOCK_EX)\n",
               "0o600)\n"),),
             ("tests/unit/test_archive_lock.py::test_two_takeovers_of_a_dead_holder_never_both_win",)),
    Mutation("manifest-stale-hash", "the manifest reuses an old hash for a changed file",
             (("module_utils/clix_manifest.py",
               '        if old and old.get("type", "file") == "file" and old.get("size") == st.st_size \\\n'
               '                and old.get("mtime_ns") == st.st_mtime_ns and old.get("inode") == st.st_ino:\n',
               '        if old and old.get("type", "file") == "file":\n'),),
             ("tests/unit/test_manifest_verify.py::test_a_changed_file_is_hashed_again_even_with_the_same_size",
              "tests/unit/test_manifest_verify.py::test_a_changed_size_is_hashed_again_even_with_the_same_mtime")),
    Mutation("manifest-ignores-size", "the manifest reuses an old hash when only the size changed",
             (("module_utils/clix_manifest.py",
               ' and old.get("size") == st.st_size \\\n',
               " \\\n"),),
             ("tests/unit/test_manifest_verify.py::test_a_changed_size_is_hashed_again_even_with_the_same_mtime",)),
    Mutation("no-fsync", "a file is renamed into place without its data being fsynced",
             (("module_utils/clix_files.py",
               "            os.fsync(raw.fileno())\n",
               ""),),
             ("tests/unit/test_durability.py",)),
    Mutation("hash-follows-links", "hashing follows a link and opens FIFOs and devices",
             (("module_utils/clix_files.py",
               "    before = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)\n"
               "    if not stat.S_ISREG(before.st_mode):\n",
               "    before = os.stat(path, dir_fd=dir_fd)\n"
               "    if False:\n"),),
             ("tests/unit/test_manifest_verify.py::test_hashing_refuses_links_fifos_and_devices_without_opening_them",)),
    Mutation("pull-keeps-every-link", "the pull keeps links that point outside their item",
             (("module_utils/clix_links.py",
               "        inside = resolve_inside(top, rel.split(os.sep)[:-1], unmunged(raw), [MAX_HOPS]) is not None\n",
               "        inside = True\n"),),
             ("tests/unit/test_pull.py::test_only_links_that_stay_inside_the_item_reach_the_archive",)),
    Mutation("pull-lexical-links", "the pull judges a link by its text only, not through the item's own links",
             (("module_utils/clix_layout.py",
               "        if not is_link:\n",
               "        if True:\n"),),
             ("tests/unit/test_pull.py::test_only_links_that_stay_inside_the_item_reach_the_archive",)),
    Mutation("pull-makes-devices", "rsync -a, run as root, creates devices and FIFOs in the archive",
             (("module_utils/clix_rsync.py",
               '"--no-devices", "--no-specials", ',
               ""),),
             ("tests/unit/test_pull.py::test_only_links_that_stay_inside_the_item_reach_the_archive",)),
    Mutation("file-follows-link", "a settings file that is a link on the server is read through (as rsync -a "
             "without --munge-links makes it a live link, and open() follows it)",
             (("module_utils/clix_rsync.py", '"--munge-links",', ""),
              ("library/clix_pull.py", "        os.close(open_regular(pulled))\n",
               "        os.close(os.open(pulled, os.O_RDONLY))\n")),
             ("tests/unit/test_pull.py::test_a_settings_file_linked_to_a_control_node_file_is_never_read_through",)),
    Mutation("snapshot-follows-links", "a snapshot's file is verified through a link",
             (("library/clix_pull.py", "import contextlib\nimport os\n", "import contextlib\nimport hashlib\nimport os\n"),
              ("library/clix_pull.py", "            if sha256_file(os.path.join(folder, rel)) != digest:\n",
               '            if hashlib.sha256(open(os.path.join(folder, rel), "rb").read()).hexdigest() != digest:\n')),
             ("tests/unit/test_pull.py::test_a_snapshot_file_that_is_missing_or_a_link_is_not_verified",)),
    Mutation("redact-unparsable-verbatim", "a settings file that does not parse is archived as it is",
             (("module_utils/clix_settings.py",
               '        raise SettingsError("not valid Python (%s)" % exc) from None\n',
               "        return data\n"),),
             ("tests/unit/test_redaction.py::test_a_file_that_does_not_parse_is_refused",
              "tests/unit/test_pull.py::test_a_settings_file_is_redacted_and_rewritten_only_when_it_changes")),
    Mutation("redact-ignores-encoding", "redaction reads every file as UTF-8, whatever its coding line says",
             (("module_utils/clix_settings.py", "    text = data.decode(encoding)\n",
               '    text = data.decode("utf-8")\n'),),
             ("tests/unit/test_redaction.py::test_a_file_in_another_encoding_keeps_it",)),
    Mutation("pull-file-no-fsync", "a pulled file is moved into place without its data being fsynced",
             (("module_utils/clix_files.py", "    fd = open_regular(path)\n    try:\n        os.fsync(fd)\n",
               "    fd = open_regular(path)\n    try:\n        pass\n"),),
             ("tests/unit/test_pull.py::test_a_pulled_file_is_on_disk_before_it_is_moved_into_place",)),
    Mutation("redact-no-urls", "redaction leaves passwords in URLs",
             (("module_utils/clix_settings.py",
               "        elif _has_url_password(node.value):\n",
               "        elif False:\n"),),
             ("tests/unit/test_redaction.py::test_each_way_of_writing_a_secret_is_redacted",)),
    Mutation("redact-char-columns", "redaction takes ast's UTF-8 byte columns for character columns",
             (("module_utils/clix_settings.py",
               '    return start + len(line.encode("utf-8")[:col].decode("utf-8", "replace"))\n',
               "    return start + col\n"),),
             ("tests/unit/test_redaction.py::test_everything_else_stays_byte_for_byte",)),
    Mutation("identity-unicode-digits", "an identity pattern accepts any Unicode digit",
             (("module_utils/clix_identity.py",
               'SCHOOL_CODE = re.compile(r"[0-9]{7,8}|%s" % NA, re.ASCII)\n',
               'SCHOOL_CODE = re.compile(r"\\d{7,8}|%s" % NA)\n'),),
             ("tests/unit/test_identity.py::test_a_unicode_digit_is_never_a_digit_of_an_identity",)),
    Mutation("names-c0-only", "the name rule refuses C0 controls only (C1, bidi and invisible characters pass)",
             (("module_utils/clix_identity.py",
               '    return unicodedata.category(char) in UNSAFE_CATEGORIES and char not in JOINERS\n',
               '    return ord(char) < 32 or ord(char) == 127\n'),),
             ("tests/unit/test_identity.py::test_the_name_rule_refuses_control_invisible_and_bidi_characters",)),
    Mutation("codes-by-prefix", "ingest compares a config.json's school code with the operator's school by prefix",
             (("library/clix_ingest.py",
               '    if not unset(claim) and not same_code(claim, school["school_code"]):\n',
               '    if not unset(claim) and not p["school"].startswith(str(claim) + "-"):\n'),),
             ("tests/unit/test_identity.py::test_ingest_compares_a_config_code_with_the_operators_school_as_collect_does",)),
    Mutation("open-regular-no-recheck", "open_regular trusts its check before the open (a file swapped in between "
             "is read)",
             (("module_utils/clix_files.py",
               "    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):\n",
               "    if not stat.S_ISREG(st.st_mode):\n"),),
             ("tests/unit/test_files_and_settings.py::"
              "test_open_regular_refuses_a_file_swapped_in_between_its_check_and_its_open",)),
    Mutation("ingest-entry-grows", "ingest copies an entry past the size it declared",
             (("library/clix_ingest.py", "            if copied > e.size:\n", "            if False:\n"),),
             ("tests/unit/test_ingest_hostile.py::test_an_entry_that_holds_more_than_it_declared_refuses_its_source",)),
    Mutation("ingest-trusts-config-school", "ingest files an extraction whose config.json names another school under "
             "the operator's school",
             (("library/clix_ingest.py",
               '    if not unset(claim) and not same_code(claim, school["school_code"]):\n', "    if False:\n"),),
             ("tests/unit/test_ingest_hostile.py::"
              "test_a_config_json_that_contradicts_the_operators_school_or_pc_is_quarantined",)),
    Mutation("ingest-trusts-config-pc", "ingest files an extraction whose config.json contradicts -e clix_ingest_pc",
             (("library/clix_ingest.py",
               '    elif p["pc"] and terminal and terminal != p["pc"]:\n', "    elif False:\n"),),
             ("tests/unit/test_ingest_hostile.py::"
              "test_a_config_json_that_contradicts_the_operators_school_or_pc_is_quarantined",)),
    Mutation("ingest-no-json-limit", "ingest reads a JSON file of any size",
             (("library/clix_ingest.py", '    if e.size > p["max_json_bytes"]:\n', "    if False:\n"),),
             ("tests/unit/test_ingest_hostile.py::test_a_json_file_over_the_limit_is_skipped_naming_the_limit",)),
    Mutation("ingest-follows-links", "ingest's walk follows links to folders",
             (("library/clix_ingest.py", "            if entry.is_symlink():\n", "            if False:\n"),
              ("library/clix_ingest.py", "            elif entry.is_dir(follow_symlinks=False):\n",
               "            elif entry.is_dir():\n")),
             ("tests/unit/test_ingest_hostile.py::test_a_link_on_the_stick_is_never_followed",)),
    Mutation("ingest-md5-unchecked", "ingest never compares a zip's MD5 with its checksum file",
             (("library/clix_ingest.py", "        if digest.hexdigest() != expected:\n", "        if False:\n"),),
             ("tests/unit/test_ingest_hostile.py::test_the_md5_is_compared_with_the_checksum_file",)),
    Mutation("zip-ratio-large-only", "the zip-bomb ratio is checked only for entries over 1 MiB, never in total",
             (("library/clix_ingest.py", '        if i.file_size > p["max_ratio"] * max(i.compress_size, 1):\n',
               '        if i.file_size > 1 << 20 and i.file_size > p["max_ratio"] * max(i.compress_size, 1):\n'),
              ("library/clix_ingest.py", '    if total > p["max_ratio"] * max(packed, 1):\n', "    if False:\n")),
             ("tests/unit/test_ingest_units.py::test_a_zip_bomb_is_caught_by_its_total_or_by_any_entrys_ratio",)),
    Mutation("sessions-schema-trusted", "a sessions database with views and triggers is read and archived",
             (("module_utils/clix_unplatform.py", "    if strict and extras:\n", "    if False:\n"),),
             ("tests/unit/test_sessions_db.py::"
              "test_a_database_that_is_not_a_plain_sessions_database_is_refused_before_a_row_is_read",
              "tests/unit/test_unplatform_collect.py::"
              "test_a_staged_copy_that_is_not_a_plain_sessions_database_fails_the_item_and_the_archive_stays")),
    Mutation("manifest-time-local", "a manifest time written without its zone is read as the control node's local time",
             (("module_utils/clix_manifest.py",
               "            moment = moment.replace(tzinfo=datetime.timezone.utc)\n",
               "            moment = moment.astimezone()\n"),),
             ("tests/unit/test_fleet_table.py::test_a_collection_stamped_without_a_zone_is_read_as_utc",)),
    Mutation("manifest-time-naive", "a manifest time written without its zone stays naive (the table crashed on it)",
             (("module_utils/clix_manifest.py",
               "            moment = moment.replace(tzinfo=datetime.timezone.utc)\n",
               "            return moment\n"),),
             ("tests/unit/test_fleet_table.py::test_a_collection_stamped_without_a_zone_is_read_as_utc",)),
    Mutation("table-collected-only-when-complete", "a school whose last collection skipped an item is never collected",
             (("library/clix_fleet_table.py",
               "            if not picks(name) or not isinstance(entry, dict):\n",
               "            if not picks(name) or not isinstance(entry, dict) or entry.get('status') not in ('ok', 'absent'):"
               "\n"),),
             ("tests/unit/test_fleet_table.py::test_a_school_is_collected_whatever_its_items_statuses_and_the_table_says_what_it_lacked",)),
    Mutation("pages-not-escaped", "the pages are rendered without autoescaping",
             (("module_utils/clix_pages.py", "autoescape=True,", "autoescape=False,"),),
             ("tests/unit/test_pages_units.py::test_the_run_report_shows_every_hostile_value_as_text_and_every_reason_on_the_page",
              "tests/unit/test_pages_units.py::test_the_catalogue_shows_every_hostile_value_as_text",
              "tests/unit/test_pages_units.py::test_the_fleet_table_shows_every_hostile_value_as_text_and_its_reasons_on_the_page")),
    Mutation("csv-formulas-kept", "a CSV cell for a spreadsheet keeps a formula from the field",
             (("module_utils/clix_pages.py", "        return \"'\" + value\n", "        return value\n"),),
             ("tests/unit/test_pages_units.py::test_csv_cells_from_the_field_never_run_as_formulas",)),
    Mutation("labpc-kind-from-pc", "a lab PC's pull takes the kind its result declares (a datastore 'snapshot')",
             (("module_utils/clix_unplatform.py", "                items.append(dict(item, name=dest, dest=dest))\n",
               "                items.append(dict(item, name=dest, dest=dest, kind=pull.get('kind')))\n"),),
             ("tests/unit/test_labpc_filters.py::"
              "test_the_kind_source_and_place_of_a_pull_are_the_control_nodes_whatever_the_pc_says",)),
    Mutation("labpc-part-from-pc", "a lab PC's pull goes to whatever path in the install its result names",
             (("module_utils/clix_unplatform.py", "    kind = dict(LABPC_PARTS.get(layout, ())).get(rel)\n",
               "    kind = dict(LABPC_PARTS.get(layout, ())).get(rel, 'json')\n"),),
             ("tests/unit/test_labpc_filters.py::"
              "test_an_install_or_part_the_table_does_not_hold_pulls_nothing_and_fails_with_the_reason",)),
    Mutation("pull-place-unchecked", "a pull's place in the archive is not checked before it is pulled into",
             (("library/clix_pull.py", "        under(root, path, links=False)\n", "        pass\n"),),
             ("tests/unit/test_labpc_hostile.py::test_an_archive_place_reached_through_a_link_is_never_pulled_into",)),
    Mutation("shared-pull-failure-leaks", "one item's failure in a shared rsync fails every folder item pulled with it",
             (("library/clix_pull.py",
               "alone = [pull_retried(p, item, False, progress, show) for item in items]",
               'alone = [dict(new_result(item), status=FAILED, reason=failed["reason"]) for item in items]'),),
             ("tests/unit/test_pull.py::test_folder_items_of_one_base_share_one_rsync_and_each_keeps_its_own_result",)),
    Mutation("shared-file-unchecked", "a file item fetched by a shared rsync is installed without being checked a regular file",
             (("library/clix_pull.py", 'if result["status"] == OK and pulled_regular(item, pulled, result):',
               'if result["status"] == OK and os.path.lexists(pulled):'),),
             ("tests/unit/test_pull.py::"
              "test_file_items_fetched_by_one_rsync_are_each_checked_redacted_and_installed_on_their_own",)),
    Mutation("shared-pull-excludes-unanchored", "an item's excludes in a shared rsync are not made its own",
             (("library/clix_pull.py", '"--exclude=/%s%s" % (rel, x)', '"--exclude=%s" % x'),),
             ("tests/unit/test_pull.py::test_folder_items_of_one_base_share_one_rsync_and_each_keeps_its_own_result",)),
    Mutation("under-follows-links", "under(links=False) lets a link inside the root stand on the way",
             (("module_utils/clix_layout.py", "    for n in range(len(pieces)) if not links else ():\n",
               "    for n in ():\n"),),
             ("tests/unit/test_labpc_hostile.py::test_an_archive_place_reached_through_a_link_is_never_pulled_into",)),
    Mutation("server-excludes-pc-folders-only", "a server's pull leaves out a lab PC's name at its top only as a folder",
             (("filter_plugins/clix.py", '            entry["exclude"] = ["/%s" % clix_unplatform.check_pc(pc)',
               '            entry["exclude"] = ["/%s/" % clix_unplatform.check_pc(pc)'),),
             ("tests/unit/test_labpc_filters.py::"
              "test_the_exclusion_leaves_out_only_the_folders_at_the_items_top_named_like_a_lab_pc",)),
    Mutation("labpc-no-json-limit", "clix_pull reads a lab PC's JSON file of any size",
             (("module_utils/clix_labpc_json.py", "            if st.st_size > limit:\n", "            if False:\n"),),
             ("tests/unit/test_labpc_hostile.py::"
              "test_a_json_file_over_the_limit_is_never_read_and_fails_the_item_naming_the_limit",)),
    Mutation("labpc-json-recursive", "a JSON file nested past Python's reader is taken for a torn one",
             (("module_utils/clix_unplatform.py", "            except RecursionError:\n                pass\n",
               "            except RecursionError:\n                return False\n"),),
             ("tests/unit/test_labpc_hostile.py::"
              "test_a_json_file_nested_past_pythons_reader_is_archived_when_whole_and_torn_when_not",)),
    Mutation("labpc-json-built", "every JSON file is parsed by Python's reader, whatever its size (about 25 times it)",
             (("module_utils/clix_unplatform.py", "        if len(data) <= JSON_FAST_BYTES:\n", "        if True:\n"),),
             ("tests/unit/test_labpc_hostile.py::"
              "test_a_json_file_past_the_fast_path_is_checked_in_memory_bounded_by_its_size",)),
    Mutation("labpc-names-raw", "the names of a lab PC's torn files reach the reason (and the terminal) raw",
             (("library/clix_pull.py", '", ".join(shown(t) for t in torn[:5])', '", ".join(torn[:5])'),),
             ("tests/unit/test_labpc_hostile.py::test_names_from_the_pc_reach_the_reasons_escaped",)),
    Mutation("catalogue-plain-open", "the catalogue opens each manifest with a plain open() (a FIFO hangs it)",
             (("library/clix_catalog.py", "            manifest = load(path)\n",
               '            manifest = json.load(open(os.path.join(path, "MANIFEST.json")))  # noqa: SIM115\n'),),
             ("tests/unit/test_pages_units.py::test_a_fifo_in_place_of_a_manifest_never_hangs_the_catalogue",)),
    Mutation("dataset-dump-follows-link", "the dataset reads a collected dump with a plain open() (a link to a "
             "control node's file is followed)",
             (("clix_dataset/extract.py", "            with open_dump(dump) as f:\n",
               '            with open(dump, "rb") as f:\n'),),
             ("tests/unit/test_dataset_units.py::test_dumps_linked_outside_the_school_are_rejects_never_read",)),
    Mutation("merge-field-top-folders", "merge copies the field manifest's top_folders into the central one",
             (("library/clix_merge.py",
               '    tops = sorted({rel.split("/", 1)[0] for rel in files} | set(cm.get("top_folders") or []))\n',
               '    tops = sorted({rel.split("/", 1)[0] for rel in files} | set(later.get("top_folders") or []))\n'),),
             ("tests/unit/test_merge_units.py::test_the_central_manifest_takes_neither_the_field_top_folders_nor_its_school",)),
    Mutation("merge-school-from-field", "merge takes which school a folder is from the field manifest",
             (("library/clix_merge.py",
               "school=cm.get(\"school\") or who,", "school=later.get(\"school\") or who,"),),
             ("tests/unit/test_merge_units.py::test_the_central_manifest_takes_neither_the_field_top_folders_nor_its_school",)),
    Mutation("merge-schema-unchecked", "merge uses a field manifest without checking it against the schema",
             (("library/clix_merge.py",
               '    refuse(schema_problems(smanifest, "its"))  # before anything of it is used\n', ""),),
             ("tests/unit/test_merge_units.py::test_a_field_manifest_off_the_schema_refuses_its_school_before_any_of_it_is_used",)),
    Mutation("merge-links-leave-their-item", "merge takes a recorded link that leads outside its item",
             (("library/clix_merge.py",
               '            elif not link_stays_inside(src_path, table, rel, entry["target"]):\n',
               "            elif False:\n"),),
             ("tests/unit/test_merge_units.py::test_a_recorded_link_that_leads_outside_its_item_refuses_its_school_alone",)),
    Mutation("merge-follows-links", "merge copies what a recorded link points to instead of making the link anew",
             (("library/clix_merge.py",
               "        if expected is not None and expected.startswith(LINK_MARK):  # made anew: never followed\n",
               "        if False:\n"),),
             ("tests/unit/test_merge_units.py::test_a_link_collect_kept_is_made_anew_never_followed_and_an_older_one_kept_in_history",)),
    Mutation("verify-links-unchecked", "verify lets a recorded link lead outside its item",
             (("library/clix_verify.py", "    if table:\n", "    if False:\n"),),
             ("tests/unit/test_manifest_verify.py::test_verify_checks_each_manifest_against_the_schema_and_each_link_stays_in_its_item",)),
    Mutation("verify-schema-unchecked", "verify reads a manifest without checking it against the schema",
             (("library/clix_verify.py", "    shape = clix_schema.problems(manifest)\n", "    shape = []\n"),),
             ("tests/unit/test_manifest_verify.py::test_verify_checks_each_manifest_against_the_schema_and_each_link_stays_in_its_item",)),
    Mutation("merge-one-school-aborts", "one school that breaks the merge in an unforeseen way stops the others",
             (("library/clix_merge.py",
               "        except Exception as exc:  # one odd school never stops the others (deep JSON, a time out of range...)\n"
               "            entry.update(",
               "        except ZeroDivisionError as exc:\n            entry.update("),),
             ("tests/unit/test_merge_units.py::test_one_school_that_breaks_the_merge_is_refused_and_the_others_still_merged",)),
    Mutation("restore-unverified", "restore.yml restores a collection without checking it against its manifest",
             (("library/clix_restore_source.py", "    problems = differences(source, manifest, tree)\n",
               "    problems = []\n"),),
             ("tests/unit/test_restore_source.py::test_a_collection_that_does_not_verify_is_refused_naming_each_file",)),
    Mutation("restore-any-school", "restore.yml restores a collection of another school",
             (("library/clix_restore_source.py", "    if wrong:\n", "    if False:\n"),),
             ("tests/unit/test_restore_source.py::test_another_schools_collection_is_refused",)),
    Mutation("restore-no-room-check", "restore.yml writes onto a file system without room for it",
             (("library/clix_restore.py", '        if free < entry["bytes"] + reserve:\n', "        if False:\n"),),
             ("tests/unit/test_restore_checks.py::test_each_file_system_must_hold_what_goes_there_with_the_reserve",)),
    Mutation("restore-any-settings", "restore.yml restores onto a server whose settings name another school",
             (("library/clix_restore.py", "    raise RestoreError(\"this server's settings say", "    return None\n"
               "    raise RestoreError(\"this server's settings say"),),
             ("tests/unit/test_restore_checks.py::test_settings_naming_another_school_are_refused",)),
    Mutation("restore-code-leading-zeros", "restore.yml refuses a server whose settings write its school code without "
             "the inventory's leading zero",
             (("library/clix_restore.py", '(said[0] == p["server_id"] and same_code(said[1], p["school_code"]))',
               'said == (p["server_id"], p["school_code"])'),),
             ("tests/unit/test_restore_checks.py::test_this_school_or_a_blank_install_is_accepted",)),
    Mutation("labpc-restore-not-converted",
             "a lab PC gets the archive's sessions database in the project's schema, not unplatform's",
             (("module_utils/clix_unplatform.py", "        con.execute(UNPLATFORM_SESSIONS_SQL)\n",
               "        con.execute(SESSIONS_SCHEMA)\n"),),
             ("tests/unit/test_labpc_restore_units.py::"
              "test_the_archived_database_goes_back_in_unplatforms_own_schema_and_journal_row_by_row",)),
    Mutation("labpc-restore-over-data", "restore.yml restores into a lab PC's install that holds data, without overwrite",
             (("library/clix_unplatform_restore.py", '    if holds and not p["overwrite"]:\n', "    if False:\n"),),
             ("tests/unit/test_labpc_restore_units.py::test_an_install_holding_data_is_refused_unless_overwrite_and_nothing_changes",)),
    Mutation("labpc-restore-stale-wal", "a lab PC's new sessions database is renamed in beside the old one's write-ahead log",
             (("library/clix_unplatform_restore.py", '                os.unlink(target + suffix)\n', "                pass\n"),),
             ("tests/unit/test_labpc_restore_units.py::test_the_database_is_replaced_whole_and_the_old_wal_never_replayed",)),
    Mutation("labpc-restore-app-left-running", "a lab PC's app is left running while its install is restored",
             (("library/clix_unplatform_app.py", "            os.kill(p[\"pid\"], sig)\n", "            pass\n"),),
             ("tests/unit/test_labpc_restore_units.py::test_the_apps_processes_are_stopped_and_started_again_as_they_ran",)),
    Mutation("restore-newer-unsaid", "restore.yml's refusal never names data newer than the collection restored from",
             (("library/clix_restore.py",
               "        changed = newest is not None and since is not None and newest > since\n",
               "        changed = False\n"),),
             ("tests/unit/test_restore_checks.py::test_files_changed_after_the_collection_are_named_as_newer_data",)),
    # Caught on the fleet (only a playbook run shows it): the test brings its own session fleet, or reuses one
    # (CLIX_TEST_REUSE_FLEET=1 and CLIX_TEST_FLEET_*, tests/conftest.py).
    Mutation("restore-services-left-stopped", "a restore that fails leaves gStudio's services stopped",
             (("roles/clix/tasks/restore.yml",
               "          always:\n            - name: Start gStudio's services again, also when the restore failed\n",
               "            - name: Start gStudio's services again, also when the restore failed\n"),),
             ("tests/integration/test_restore.py::"
              "test_a_wiped_server_restored_and_collected_again_gives_the_same_archive",)),
    Mutation("labpc-restore-overwrite-not-collected", "restore.yml restores over a lab PC's data without collecting it first",
             (("roles/clix/tasks/restore_labpc.yml",
               "          when: clix_unplatform_target.installs | map(attribute='holds') | select | list | length > 0\n",
               "          when: false\n"),),
             ("tests/integration/test_restore_labpc.py::"
              "test_a_wiped_lab_pc_restored_and_collected_again_gives_the_same_archive",)),
    Mutation("unsealed-host-row-clean", "a host whose seal failed is reported with the row of a clean collection",
             (("filter_plugins/clix.py",
               '        if not result and sealed is not None and not sealed.get("failed"):\n',
               "        if not result and sealed is not None:\n"),),
             ("tests/unit/test_per_school_tasks.py::test_a_sealed_hosts_row_is_built_from_its_facts_by_the_report",)),
    Mutation("settings-check-first-host-only", "the settings check of the play reads the first host's variables only",
             (("action_plugins/clix_settings_check.py",
               "    return sorted(name for name in spec if name in raw and (name not in first_raw or "
               "raw[name] != first_raw[name]))\n",
               "    return []\n"),),
             ("tests/unit/test_role_interface.py::test_a_wrong_value_in_one_hosts_own_variables_stops_the_run_naming_it",)),
    Mutation("failed-pull-facts-dropped", "a school whose pull or staging removal failed loses its heartbeat and items",
             (("roles/clix/tasks/main.yml",
               "      when: ansible_failed_result.ansible_facts.clix_pull_result is defined\n",
               "      when: false\n"),),
             ("tests/integration/test_collect.py::test_a_staging_folder_that_cannot_be_removed_fails_its_school_which_"
              "keeps_its_heartbeat_and_items",)),
]


def source_files() -> list:
    """The files of the tree: git's list in a checkout, else every file but the environment's."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                                check=True, capture_output=True).stdout.split(b"\0")
        return [REPO / name.decode() for name in listed if name]
    except (OSError, subprocess.CalledProcessError):  # an exported tree (git archive), not a checkout
        skip = {".git", ".venv", ".cache", "__pycache__"}
        return [p for p in REPO.rglob("*") if not skip & set(p.relative_to(REPO).parts)]


def tracked_copy(dest: Path) -> None:
    for src in source_files():
        dst = dest / src.relative_to(REPO)
        if src.is_symlink() and not os.readlink(src).startswith("/"):  # a link within the tree (action_plugins/)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(os.readlink(src))
            continue
        if src.is_symlink() or not src.is_file():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
        dst.chmod(src.stat().st_mode & 0o777)


def run_tests(tree: Path, tests: tuple) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests], cwd=tree,
                          capture_output=True, text=True)


def check(mutation: Mutation) -> tuple:
    with tempfile.TemporaryDirectory(prefix="clix-mutation-") as tmp:
        tree = Path(tmp)
        tracked_copy(tree)
        baseline = run_tests(tree, mutation.tests)
        if baseline.returncode != 0:
            return "BROKEN", "the tests fail without the mutation:\n" + baseline.stdout[-2000:]
        for path, old, new in mutation.edits:
            code = (tree / path).read_text()
            if code.count(old) != 1:
                return "STALE", "an edit matches %d times in %s: update the mutation" % (code.count(old), path)
            (tree / path).write_text(code.replace(old, new))
        mutated = run_tests(tree, mutation.tests)
        if mutated.returncode == 1:
            failed = [line for line in mutated.stdout.splitlines() if line.startswith("FAILED")]
            return "caught", failed[0] if failed else ""
        return "MISSED", "pytest exit %d:\n%s" % (mutated.returncode, mutated.stdout[-2000:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="mutations to check (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error("unknown mutation(s): %s (see --list)" % ", ".join(sorted(unknown)))
    if args.list:
        for m in chosen:
            print("%-26s %s (%s)" % (m.name, m.what, ", ".join(sorted({e[0] for e in m.edits}))))
        return 0
    bad = 0
    for m in chosen:
        verdict, detail = check(m)
        bad += verdict != "caught"
        print("%-8s %-26s %s\n         %s" % (verdict, m.name, m.what, detail.replace("\n", "\n         ")), flush=True)
    print("%d of %d mutation(s) caught" % (len(chosen) - bad, len(chosen)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
