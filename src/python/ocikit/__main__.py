import gc

from ocikit.cli import main

if __name__ == "__main__":
    status = main()
    # The process ends here: spare its last cyclic garbage collection the walk over every object
    # of the hundreds of modules loaded, work whose result nobody uses.
    gc.freeze()
    raise SystemExit(status)
