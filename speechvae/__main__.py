"""``python -m speechvae ...``: the same as the ``speechvae`` command."""
import sys

from speechvae.cli import main

sys.exit(main())
