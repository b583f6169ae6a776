"""The one exception type pihlib raises for bad input, so callers (and the CLI) can catch it."""


class PihError(ValueError):
    """Bad input to pihlib: a wrong shape, dtype or range, a damaged file, a missing data source.

    Every check of pihlib's public functions raises this type, with a message that names the value
    at fault and what would be accepted; the ``pih`` command prints the message and exits with a
    non-zero status instead of a traceback. It derives from ``ValueError``, so ``except ValueError``
    catches it too. Errors that are not about the caller's input (a bug, an out-of-memory error, a
    failure inside torch) are not wrapped in it. pihlib raises it with one argument, the message.

    Example:
        >>> import pihlib
        >>> try:
        ...     pihlib.metric("fsim")
        ... except pihlib.PihError as e:
        ...     print(e)
        unknown metric 'fsim'; choose from mse, psnr, ssim, brisque, niqe, piqe, vgg, fid, lpips
    """
