"""Applications under test that ship with perfkit. The core never imports these by name:
scales.yaml's ``app.entry`` names the one to load (see :mod:`perfkit.app`)."""
