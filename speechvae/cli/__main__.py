"""``python -m speechvae.cli ...``: the same as the ``speechvae`` command."""
import sys

from speechvae.cli import main

sys.exit(main())
