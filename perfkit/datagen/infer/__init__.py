"""Data for every table of any schema, inferred from the catalogue: no recipe needed.

The steps, one module each:

- :mod:`~perfkit.datagen.infer.spec`: the cardinality language and overrides (how many rows,
  how children spread over parents, columns a team knows better), validated from a mapping;
- :mod:`~perfkit.datagen.infer.plan`: a :class:`~perfkit.datagen.infer.model.Plan` from a
  :class:`perfkit.ddl.Capture` and the spec (facts about tables in
  :mod:`~perfkit.datagen.infer.facts`, CHECKs read by :mod:`~perfkit.datagen.infer.checks`,
  the values a column takes by :mod:`~perfkit.datagen.infer.columns` and
  :mod:`~perfkit.datagen.infer.providers`, made by the makers of
  :mod:`~perfkit.datagen.infer.values`);
- :mod:`~perfkit.datagen.infer.fill`: the rows loaded at COPY speed, the schema replayed
  exactly, all or nothing.
"""
