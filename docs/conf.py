"""Sphinx configuration: Markdown pages through myst-parser, the API from the docstrings (autodoc), the CLI
reference from the argparse parser (sphinx-argparse). Builds offline."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("."))  # cli_parser.py

import speechvae  # noqa: E402

project = "speechvae"
author = "the speechvae developers"
release = version = speechvae.__version__
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinxarg.ext"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"page_width": "1200px", "sidebar_width": "260px"}


def _toplevel_table() -> str:
    """The table of ``import speechvae as sv`` names, made from the package's own list at every build (no drift)."""
    import importlib

    rows = [".. list-table:: The top-level names", "   :header-rows: 1", "   :widths: 20 35 45", "",
            "   * - name", "     - is", "     - what"]
    for name, (mod, attr) in speechvae._API.items():
        obj = getattr(importlib.import_module(mod), attr)
        role = "class" if isinstance(obj, type) else "func"
        first = " ".join((obj.__doc__ or "").strip().split("\n\n")[0].split())
        rows += [f"   * - ``sv.{name}``", f"     - :{role}:`{mod}.{attr}`", f"     - {first}"]
    return "\n".join(rows) + "\n"


with open(os.path.join(os.path.dirname(__file__), "api", "toplevel.rst.inc"), "w") as _f:
    _f.write(_toplevel_table())
