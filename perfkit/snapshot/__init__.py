"""Snapshots: save a dataset once, restore it in seconds (or a fraction of one), never stale.

* :func:`write_snapshot` -- ``perfkit snapshot``: the dataset as zstd-compressed binary COPY
  files plus a checksummed manifest, written atomically (:mod:`.store`, :mod:`.fileformat`);
  seeding first when needed is :func:`perfkit.prepare.create_snapshot`, one layer up.
* :func:`restore_snapshot` -- ``perfkit restore``: verify, build beside the target (template
  clone or files), move the dates to today, swap (:mod:`.restore`, :mod:`.template`,
  :mod:`.dates`).
* :func:`list_snapshots`, :func:`verify_snapshots`, :func:`prune` -- ``perfkit snapshots``,
  ``perfkit verify``, ``perfkit prune``.
* :func:`ensure_template`, :func:`cloned_database` -- the fast path's template, and a
  throw-away clone per destructive test (:mod:`.prepare`). "Data ready" by the cheapest route
  (``perfkit prepare``) is :mod:`perfkit.prepare`, one layer up.

The package imports none of its modules: each caller imports what it uses from the module that
holds it (``from perfkit.snapshot.restore import restore_snapshot``), so a restore from the
template loads neither the writer nor its schema capture.
"""
