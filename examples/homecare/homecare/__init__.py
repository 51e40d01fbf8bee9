"""A small home-care agency application: perfkit's example of measuring your own application.

- :mod:`.settings`: settings read from the environment at import (``APP_SECRET`` and
  ``APP_DATABASE_URL`` are required);
- :mod:`.db`: the module-level async engine (psycopg 3) and session factory;
- :mod:`.models`: the seven tables (SQLAlchemy 2 declarative);
- :mod:`.batch`: the nightly review-reminder batch, the workload perfkit times;
- :mod:`.data`: the functions scales.yaml's `app.data` overrides call.

The application knows nothing of perfkit (:mod:`.data` imports none of it); ``../scales.yaml`` tells
perfkit where each part is.
"""
