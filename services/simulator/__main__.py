"""``python -m services.simulator``: the same as ``hypeledger simulator``."""

from services.simulator.serve import serve
from services.simulator.settings import SimulatorSettings

if __name__ == "__main__":
    serve(SimulatorSettings())
