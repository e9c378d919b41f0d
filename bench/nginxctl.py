"""nginxctl.py - the bench nginx for the Python scripts of bench/.

ensure() starts it with bench/nginx-start.sh (127.0.0.1:8080, pinned to SERVER_CPU, default 0)
when nothing answers there, and stops it with bench/nginx-stop.sh when the script exits if it
was started here; a running nginx (started by hand or by bench/compare.sh) is left alone.
"""
import atexit
import os
import subprocess
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
URL = "http://127.0.0.1:8080/small"


def up():
    """Whether something answers GET /small on 127.0.0.1:8080."""
    try:
        urllib.request.urlopen(URL, timeout=2).read()
        return True
    except OSError:
        return False


def ensure():
    """Starts the bench nginx unless one answers; stops it at exit if it was started here."""
    if up():
        return
    subprocess.run([os.path.join(HERE, "nginx-start.sh")], check=True, timeout=60)
    atexit.register(
        lambda: subprocess.run([os.path.join(HERE, "nginx-stop.sh")], timeout=60, check=False))
