"""The speech codec: a residual VQ-VAE's codes and quantised side streams as bitstream files (bitstream), the
codec itself (codec), on folders (folder), and the reference codecs it is judged against (references)."""
