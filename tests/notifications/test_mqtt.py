"""Alerts on MQTT through a real broker process (Debian's mosquitto) that the test starts: topic per
region and alert kind, QoS 1, a paho subscriber receives them; the broker restarts and delivery resumes."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from koopsuz.config import Settings
from koopsuz.services.mqtt_publisher import parse_mqtt_url, topic_for
from tests.conftest import DATA, free_port, wait_port

from .conftest import alert

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto missing: run scripts/setup.sh")


class Broker:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port, 10, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Listener:
    """A paho subscriber on ``koopsuz/alerts/#`` (QoS 1) that resubscribes after each reconnection."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, dict[str, Any], int]] = []
        self.cv = threading.Condition()
        self.subscribed = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="koopsuz-test-listener")
        c.reconnect_delay_set(min_delay=1, max_delay=2)
        c.on_connect = lambda cl, *_a: cl.subscribe("koopsuz/alerts/#", qos=1)
        c.on_subscribe = lambda *_a: self.subscribed.set()
        c.on_disconnect = lambda *_a: self.subscribed.clear()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self.cv:
            self.messages.append((msg.topic, json.loads(msg.payload), msg.qos))
            self.cv.notify_all()

    def wait_for(self, event_id: str, timeout: float = 15.0) -> tuple[str, dict[str, Any], int]:
        with self.cv:
            self.cv.wait_for(lambda: any(m[1]["id"] == event_id for m in self.messages), timeout)
            hits = [m for m in self.messages if m[1]["id"] == event_id]
        assert hits, f"alert {event_id} never arrived on MQTT"
        return hits[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


def test_alerts_published_per_region_and_kind_and_resume_after_broker_restart(broker: Broker, tmp_path: Path) -> None:
    from koopsuz.system import System

    system = System(Settings(data_dir=tmp_path / "var", secret_key="t", record=False,
                             mqtt_url=f"mqtt://127.0.0.1:{broker.port}"))
    system.load_deployment(DATA / "two-regions.yaml")
    system.start(ingest=False, record=False)
    listener = Listener(broker.port)
    try:
        assert system.mqtt is not None and system.mqtt.connected.wait(10)
        assert listener.subscribed.wait(10)
        yk, ch = alert("KG-Y", "critical", "zone"), alert("KG-C", "high", "hotlist_hit")
        motion = alert("KG-Y")
        motion.kind = "motion"  # not an alert kind: never published
        system.writer.write_now([yk, ch, motion])
        topic, payload, qos = listener.wait_for(yk.id)
        assert topic == "koopsuz/alerts/KG-Y/zone" == topic_for(yk) and qos == 1
        assert payload["severity"] == "critical" and payload["camera"] == "yk-cam-1"
        assert listener.wait_for(ch.id)[0] == "koopsuz/alerts/KG-C/hotlist_hit"
        assert all(m[1]["id"] != motion.id for m in listener.messages)

        broker.stop()  # the broker goes away: the publisher notices and keeps trying
        deadline = time.monotonic() + 10
        while system.mqtt.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not system.mqtt.connected.is_set()
        down = alert("KG-Y", "critical")
        system.writer.write_now([down])  # the writer is not held up by the dead broker
        broker.start()
        assert system.mqtt.connected.wait(20), "the publisher did not reconnect"
        assert listener.subscribed.wait(20)
        after = alert("KG-Y", "critical")
        system.writer.write_now([after])
        assert listener.wait_for(after.id)[0] == "koopsuz/alerts/KG-Y/zone"
        assert system.mqtt.stats()["connects"] >= 2 and system.mqtt.stats()["dropped"] == 0
    finally:
        listener.close()
        system.stop()


def test_bad_mqtt_url_is_a_clear_error() -> None:
    assert parse_mqtt_url("mqtt://u:p%40ss@broker.local") == ("broker.local", 1883, "u", "p@ss", False)
    assert parse_mqtt_url("mqtts://broker.local")[1:] == (8883, None, None, True)
    with pytest.raises(ValueError, match="mqtt://host:1883"):
        parse_mqtt_url("http://broker.local")
