from __future__ import annotations

import sources.sandbox


def test_sandbox_exports_a_short_public_surface() -> None:
    assert sorted(sources.sandbox.__all__) == [
        "SandboxApp",
        "background_server",
        "create_app",
        "running",
        "serve",
    ]


def test_sandbox_does_not_import_the_gateway() -> None:
    from pathlib import Path

    package = Path(sources.sandbox.__file__).parent
    for module in package.glob("*.py"):
        text = module.read_text()
        for forbidden in ("gateway", "schema", "resolvers"):
            assert f"from {forbidden}" not in text, module
            assert f"import {forbidden}" not in text, module
