"""CRM.COM Rewards Web API v2 simulator (standard library only).

    from crmcom_simulator import Simulator, Fault
    with Simulator() as sim:
        ...  # point a client at sim.base_url

See README.md for the scenario format, the test scenario's identifiers and the
choices made where CRM.COM's documentation is silent.
"""

from .faults import Fault
from .model import ScenarioError
from .scenario import load_scenario
from .simulator import Simulator

__all__ = ["Fault", "ScenarioError", "Simulator", "load_scenario"]
