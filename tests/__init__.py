from . import test_pos_smoke
