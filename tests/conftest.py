"""Every test (and every radscribe it starts) logs to a file of its own, not the user's log."""

import os
import tempfile

os.environ.setdefault("RADSCRIBE_LOG", os.path.join(tempfile.mkdtemp(prefix="radscribe-test-log-"), "radscribe.log"))
