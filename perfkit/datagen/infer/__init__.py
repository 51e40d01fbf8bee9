"""Data for every table of any schema, inferred from the catalogue: no recipe needed.

The steps, one module each:

- :mod:`perfkit.dataspec` (scales.yaml's ``app.data``, outside this package: the configuration
  holds it): the cardinality language and overrides (how many rows, how children spread over
  parents, columns a team knows better);
- :mod:`~perfkit.datagen.infer.plan`: a :class:`~perfkit.datagen.infer.model.Plan` from a
  :class:`perfkit.ddl.Capture` and the spec (facts about tables in
  :mod:`~perfkit.datagen.infer.facts`, CHECKs read by :mod:`~perfkit.datagen.infer.checks`,
  the values a column takes by :mod:`~perfkit.datagen.infer.columns` and
  :mod:`~perfkit.datagen.infer.providers`, made by the makers of
  :mod:`~perfkit.datagen.infer.values`);
- :mod:`~perfkit.datagen.infer.fill`: the rows loaded at COPY speed, the schema replayed
  exactly, all or nothing.
"""
