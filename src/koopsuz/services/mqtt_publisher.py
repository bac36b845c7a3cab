"""Alerts published to an MQTT broker, one topic per region and alert kind.

Each alert (and each event whose kind is listed in ``kinds``) goes out as JSON on
``koopsuz/alerts/<region>/<alert kind>`` with QoS 1, e.g. ``koopsuz/alerts/KG-Y/zone``, so an SMS
gateway subscribes to ``koopsuz/alerts/KG-Y/#`` and a national dispatch to ``koopsuz/alerts/+/hotlist_hit``
(where a hit's withdrawal, ``rule_kind: "hotlist_unconfirmed"``, comes too: see ``topic_for``).

paho-mqtt's own network thread keeps the connection and reconnects with backoff after the broker
goes away; messages published while it is down wait in paho's bounded queue and go out after the
reconnection. The bus handler only enqueues (never blocks the bus); one thread hands messages to paho.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from koopsuz.bus.base import Bus
from koopsuz.domain.events import Event
from koopsuz.services.webhooks import topic_kind

log = logging.getLogger(__name__)
TOPIC_ROOT = "koopsuz/alerts"


def topic_for(event: Event) -> str:
    """``koopsuz/alerts/<region>/<kind>``; MQTT wildcards never appear in a region code or a kind.

    A retraction goes out on the topic of the alert it takes back (``hotlist_unconfirmed`` on
    ``.../hotlist_hit``): the topic is a subscriber's only filter, and whoever listens for hits must hear
    that one was withdrawn. It is told apart by its payload (``rule_kind``, ``retracts``: the hit's id).
    """
    return f"{TOPIC_ROOT}/{event.region}/{topic_kind(event)}"


def parse_mqtt_url(url: str) -> tuple[str, int, str | None, str | None, bool]:
    """``mqtt://[user:password@]host[:1883]`` or ``mqtts://...[:8883]`` -> host, port, user, password, tls."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"KOOPSUZ_MQTT_URL must look like mqtt://host:1883 or mqtts://host:8883, not {url!r}")
    tls = parts.scheme == "mqtts"
    port = parts.port or (8883 if tls else 1883)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, user, password, tls


class MqttPublisher:
    def __init__(
        self,
        bus: Bus,
        url: str,
        *,
        kinds: frozenset[str] = frozenset({"alert"}),
        client_id: str | None = None,
        max_queued: int = 10_000,
    ) -> None:
        self._bus = bus
        self.host, self.port, user, password, tls = parse_mqtt_url(url)
        self.kinds = kinds
        self._q: queue.Queue[Event | None] = queue.Queue(maxsize=max_queued)
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"koopsuz-{socket.gethostname()}-{os.getpid()}",
            clean_session=True,
        )
        if user:
            self._client.username_pw_set(user, password)
        if tls:
            self._client.tls_set()
        self._client.max_queued_messages_set(max_queued)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._sub: Any = None
        self.connected = threading.Event()
        self.published = 0
        self.dropped = 0
        self.connects = 0

    def start(self) -> None:
        if self._thread.is_alive():
            return
        # connect_async: a broker that is down at start is retried by the loop, never blocks start-up
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        self._thread.start()
        # durable: several API processes on JetStream share one consumer, so each alert goes out once
        self._sub = self._bus.subscribe("koopsuz.>", self._on_event, durable="mqtt-publisher")

    def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join(5)
        self._client.disconnect()
        self._client.loop_stop()

    def stats(self) -> dict[str, Any]:
        return {"connected": self.connected.is_set(), "published": self.published, "dropped": self.dropped,
                "connects": self.connects}

    # -- internals -------------------------------------------------------------------------------
    def _on_event(self, _subject: str, event: Event) -> None:
        if event.kind not in self.kinds:
            return
        try:
            self._q.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            event = self._q.get()
            if event is None:
                return
            payload = json.dumps(event.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
            info = self._client.publish(topic_for(event), payload, qos=1)
            if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self.published += 1  # NO_CONN: kept in paho's queue, sent after the reconnection
            else:
                self.dropped += 1
                log.warning("mqtt: could not queue alert %s: %s", event.id, mqtt.error_string(info.rc))

    def _on_connect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt: broker %s:%s refused the connection: %s", self.host, self.port, reason)
            return
        self.connects += 1
        self.connected.set()
        log.info("mqtt: connected to %s:%s", self.host, self.port)

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.connected.clear()
        log.warning("mqtt: disconnected from %s:%s (%s); paho reconnects", self.host, self.port, reason)
