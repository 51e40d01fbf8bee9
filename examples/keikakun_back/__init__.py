"""keikakun_back measured by perfkit: its config, data recipe and checks (docs/keikakun_back.md)."""
