from . import test_access_rights
from . import test_call_log
from . import test_order_payload
from . import test_order_queue
from . import test_partner_linking
from . import test_pos_smoke
from . import test_settings
