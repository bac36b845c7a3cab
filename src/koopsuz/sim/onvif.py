"""A small ONVIF device (Device, Media and PTZ services over SOAP 1.2) for one simulated PTZ camera.

Koopsuz drives real PTZ cameras through a real ONVIF client (``onvif-zeep-async``), so the
simulator must answer that client as a camera does: the fixed ``/onvif/device_service`` address,
service discovery (GetServices, GetCapabilities), media profiles with a PTZ configuration and the
RTSP stream URI, and the PTZ operations an operator uses (continuous, relative and absolute
moves, stop, status, presets). Requests carry WS-Security UsernameToken (digest or text), checked
against the camera's credentials; GetSystemDateAndTime is answered without, as the standard says.
One HTTP server per camera because the client derives the device address from host and port.
Anything else gets a SOAP fault ``ter:ActionNotSupported`` rather than a silent success.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from koopsuz.sim.ptz import PtzHead

log = logging.getLogger(__name__)
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
SPACE = "http://www.onvif.org/ver10/tptz/{}Spaces/{}"
PT_POS, Z_POS = SPACE.format("PanTilt", "PositionGenericSpace"), SPACE.format("Zoom", "PositionGenericSpace")
PT_REL, Z_REL = SPACE.format("PanTilt", "TranslationGenericSpace"), SPACE.format("Zoom", "TranslationGenericSpace")
PT_VEL, Z_VEL = SPACE.format("PanTilt", "VelocityGenericSpace"), SPACE.format("Zoom", "VelocityGenericSpace")
PT_SPD, Z_SPD = SPACE.format("PanTilt", "GenericSpeedSpace"), SPACE.format("Zoom", "ZoomGenericSpeedSpace")
PROFILES = ("main", "sub")
PTZ_CFG, NODE = "ptz-0", "node-0"


class Fault(Exception):
    """A SOAP fault: ``code`` Sender/Receiver, ``sub`` an ONVIF ter: subcode."""

    def __init__(self, sub: str, reason: str, code: str = "Sender") -> None:
        super().__init__(reason)
        self.sub, self.reason, self.code = sub, reason, code


class OnvifDevice:
    """The device: its credentials, head and stream URLs; ``start()`` serves it on ``port`` (0 = free)."""

    def __init__(
        self,
        camera_id: str,
        head: PtzHead,
        stream_url: Callable[[str], str],
        username: str = "admin",
        password: str = "admin",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.camera_id = camera_id
        self.head = head
        self.stream_url = stream_url
        self.username, self.password = username, password
        handler = type("Handler", (_Handler,), {"device": self})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self.host, self.port = host, self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"onvif-{camera_id}", daemon=True)
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/onvif/device_service"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------- SOAP
    def handle(self, body: bytes) -> str:
        """One request envelope in, one response body (the Body's child) out; raises Fault."""
        try:
            env = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            raise Fault("ter:WellFormed", f"not well-formed XML: {exc}") from None
        req = env.find("s:Body", NS)
        if req is None or len(req) == 0:
            raise Fault("ter:WellFormed", "no SOAP 1.2 Body with a request in it")
        op = req[0]
        name = etree.QName(op).localname
        if name != "GetSystemDateAndTime":
            self._authenticate(env)
        fn = getattr(self, f"_op_{name}", None)
        if fn is None:
            raise Fault("ter:ActionNotSupported", f"{name} is not supported by this simulated device")
        self.requests += 1
        return fn(op)

    def _authenticate(self, env: Any) -> None:
        tok = env.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
        if tok is None:
            raise Fault("ter:NotAuthorized", "sender not authorized: WS-Security UsernameToken required")
        user = tok.findtext("wsse:Username", default="", namespaces=NS)
        pw = tok.find("wsse:Password", NS)
        given = pw.text or "" if pw is not None else ""
        if pw is not None and pw.get("Type") == _DIGEST:
            nonce = base64.b64decode(tok.findtext("wsse:Nonce", default="", namespaces=NS) or "")
            created = tok.findtext("wsu:Created", default="", namespaces=NS) or ""
            want = base64.b64encode(hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()).decode()
            ok = given == want
        else:
            ok = given == self.password
        if user != self.username or not ok:
            raise Fault("ter:NotAuthorized", "sender not authorized: wrong user name or password")

    # ----------------------------------------------------------------- device
    def _xaddr(self, service: str) -> str:
        return f"http://{self.host}:{self.port}/onvif/{service}_service"

    def _op_GetSystemDateAndTime(self, _op: Any) -> str:
        n = datetime.now(UTC)
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            f"<tt:UTCDateTime><tt:Time><tt:Hour>{n.hour}</tt:Hour><tt:Minute>{n.minute}</tt:Minute>"
            f"<tt:Second>{n.second}</tt:Second></tt:Time><tt:Date><tt:Year>{n.year}</tt:Year>"
            f"<tt:Month>{n.month}</tt:Month><tt:Day>{n.day}</tt:Day></tt:Date></tt:UTCDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def _op_GetDeviceInformation(self, _op: Any) -> str:
        return (
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>Koopsuz</tds:Manufacturer>"
            "<tds:Model>SimDome-28x</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{escape(self.camera_id)}</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId>"
            "</tds:GetDeviceInformationResponse>"
        )

    def _op_GetServices(self, _op: Any) -> str:
        items = [("tds", "device", "device"), ("trt", "media", "media"), ("tptz", "ptz", "ptz")]
        body = "".join(
            f"<tds:Service><tds:Namespace>{NS[p]}</tds:Namespace><tds:XAddr>{self._xaddr(s)}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
            for p, s, _ in items
        )
        return f"<tds:GetServicesResponse>{body}</tds:GetServicesResponse>"

    def _op_GetCapabilities(self, _op: Any) -> str:
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Device><tt:XAddr>{self._xaddr('device')}</tt:XAddr></tt:Device>"
            f"<tt:Media><tt:XAddr>{self._xaddr('media')}</tt:XAddr><tt:StreamingCapabilities>"
            "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
            "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
            f"<tt:PTZ><tt:XAddr>{self._xaddr('ptz')}</tt:XAddr></tt:PTZ>"
            "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    # ------------------------------------------------------------------ media
    def _ptz_configuration(self, tag: str) -> str:
        return (
            f'<{tag} token="{PTZ_CFG}"><tt:Name>PTZ</tt:Name><tt:UseCount>2</tt:UseCount>'
            f"<tt:NodeToken>{NODE}</tt:NodeToken>"
            f"<tt:DefaultAbsolutePantTiltPositionSpace>{PT_POS}</tt:DefaultAbsolutePantTiltPositionSpace>"
            f"<tt:DefaultAbsoluteZoomPositionSpace>{Z_POS}</tt:DefaultAbsoluteZoomPositionSpace>"
            f"<tt:DefaultRelativePanTiltTranslationSpace>{PT_REL}</tt:DefaultRelativePanTiltTranslationSpace>"
            f"<tt:DefaultRelativeZoomTranslationSpace>{Z_REL}</tt:DefaultRelativeZoomTranslationSpace>"
            f"<tt:DefaultContinuousPanTiltVelocitySpace>{PT_VEL}</tt:DefaultContinuousPanTiltVelocitySpace>"
            f"<tt:DefaultContinuousZoomVelocitySpace>{Z_VEL}</tt:DefaultContinuousZoomVelocitySpace>"
            '<tt:DefaultPTZSpeed><tt:PanTilt x="1" y="1"/><tt:Zoom x="1"/></tt:DefaultPTZSpeed>'
            "<tt:DefaultPTZTimeout>PT60S</tt:DefaultPTZTimeout>"
            f"<tt:PanTiltLimits><tt:Range><tt:URI>{PT_POS}</tt:URI>{_range('X', -1, 1)}{_range('Y', -1, 1)}"
            "</tt:Range></tt:PanTiltLimits>"
            f"<tt:ZoomLimits><tt:Range><tt:URI>{Z_POS}</tt:URI>{_range('X', 0, 1)}</tt:Range></tt:ZoomLimits>"
            f"</{tag}>"
        )

    def _profile(self, name: str, tag: str) -> str:
        w, h = (1280, 720) if name == "main" else (640, 360)
        return (
            f'<{tag} token="{name}" fixed="true"><tt:Name>{name}</tt:Name>'
            '<tt:VideoSourceConfiguration token="vsc-0"><tt:Name>video</tt:Name><tt:UseCount>2</tt:UseCount>'
            '<tt:SourceToken>vs-0</tt:SourceToken><tt:Bounds x="0" y="0" width="1280" height="720"/>'
            "</tt:VideoSourceConfiguration>"
            f'<tt:VideoEncoderConfiguration token="vec-{name}"><tt:Name>{name}</tt:Name><tt:UseCount>1</tt:UseCount>'
            f"<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height>"
            "</tt:Resolution><tt:Quality>5</tt:Quality><tt:RateControl><tt:FrameRateLimit>15</tt:FrameRateLimit>"
            "<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>2048</tt:BitrateLimit></tt:RateControl>"
            "<tt:H264><tt:GovLength>15</tt:GovLength><tt:H264Profile>Baseline</tt:H264Profile></tt:H264>"
            "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>"
            "<tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
            "<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>"
            f"{self._ptz_configuration('tt:PTZConfiguration')}</{tag}>"
        )

    def _op_GetProfiles(self, _op: Any) -> str:
        body = "".join(self._profile(n, "trt:Profiles") for n in PROFILES)
        return f"<trt:GetProfilesResponse>{body}</trt:GetProfilesResponse>"

    def _op_GetProfile(self, op: Any) -> str:
        token = self._profile_token(op, "trt")
        return f"<trt:GetProfileResponse>{self._profile(token, 'trt:Profile')}</trt:GetProfileResponse>"

    def _op_GetStreamUri(self, op: Any) -> str:
        token = self._profile_token(op, "trt")
        return (
            f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{escape(self.stream_url(token))}</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
            "<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>"
        )

    def _profile_token(self, op: Any, prefix: str) -> str:
        token = (op.findtext(f"{prefix}:ProfileToken", default="", namespaces=NS) or "").strip()
        if token not in PROFILES:
            raise Fault("ter:InvalidArgVal/ter:NoProfile", f"no media profile {token!r}; profiles: main, sub")
        return token

    # -------------------------------------------------------------------- PTZ
    def _op_GetConfigurations(self, _op: Any) -> str:
        cfg = self._ptz_configuration("tptz:PTZConfiguration")
        return f"<tptz:GetConfigurationsResponse>{cfg}</tptz:GetConfigurationsResponse>"

    def _op_GetConfiguration(self, _op: Any) -> str:
        cfg = self._ptz_configuration("tptz:PTZConfiguration")
        return f"<tptz:GetConfigurationResponse>{cfg}</tptz:GetConfigurationResponse>"

    def _node(self, tag: str) -> str:
        spaces = (
            f"<tt:AbsolutePanTiltPositionSpace><tt:URI>{PT_POS}</tt:URI>{_range('X', -1, 1)}{_range('Y', -1, 1)}"
            "</tt:AbsolutePanTiltPositionSpace>"
            f"<tt:AbsoluteZoomPositionSpace><tt:URI>{Z_POS}</tt:URI>{_range('X', 0, 1)}</tt:AbsoluteZoomPositionSpace>"
            f"<tt:RelativePanTiltTranslationSpace><tt:URI>{PT_REL}</tt:URI>{_range('X', -1, 1)}{_range('Y', -1, 1)}"
            "</tt:RelativePanTiltTranslationSpace>"
            f"<tt:RelativeZoomTranslationSpace><tt:URI>{Z_REL}</tt:URI>{_range('X', -1, 1)}"
            "</tt:RelativeZoomTranslationSpace>"
            f"<tt:ContinuousPanTiltVelocitySpace><tt:URI>{PT_VEL}</tt:URI>{_range('X', -1, 1)}{_range('Y', -1, 1)}"
            "</tt:ContinuousPanTiltVelocitySpace>"
            f"<tt:ContinuousZoomVelocitySpace><tt:URI>{Z_VEL}</tt:URI>{_range('X', -1, 1)}"
            "</tt:ContinuousZoomVelocitySpace>"
            f"<tt:PanTiltSpeedSpace><tt:URI>{PT_SPD}</tt:URI>{_range('XRange', 0, 1, bare=True)}</tt:PanTiltSpeedSpace>"
            f"<tt:ZoomSpeedSpace><tt:URI>{Z_SPD}</tt:URI>{_range('XRange', 0, 1, bare=True)}</tt:ZoomSpeedSpace>"
        )
        return (
            f'<{tag} token="{NODE}" FixedHomePosition="false"><tt:Name>dome</tt:Name>'
            f"<tt:SupportedPTZSpaces>{spaces}</tt:SupportedPTZSpaces>"
            f"<tt:MaximumNumberOfPresets>{self.head.max_presets}</tt:MaximumNumberOfPresets>"
            f"<tt:HomeSupported>false</tt:HomeSupported></{tag}>"
        )

    def _op_GetNodes(self, _op: Any) -> str:
        return f"<tptz:GetNodesResponse>{self._node('tptz:PTZNode')}</tptz:GetNodesResponse>"

    def _op_GetNode(self, _op: Any) -> str:
        return f"<tptz:GetNodeResponse>{self._node('tptz:PTZNode')}</tptz:GetNodeResponse>"

    def _op_GetStatus(self, op: Any) -> str:
        self._profile_token(op, "tptz")
        p, t, z = self.head.position()
        mpt, mz = self.head.moving()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return (
            "<tptz:GetStatusResponse><tptz:PTZStatus>"
            f"<tt:Position>{_vector(p, t, z)}</tt:Position>"
            f"<tt:MoveStatus><tt:PanTilt>{'MOVING' if mpt else 'IDLE'}</tt:PanTilt>"
            f"<tt:Zoom>{'MOVING' if mz else 'IDLE'}</tt:Zoom></tt:MoveStatus>"
            f"<tt:UtcTime>{now}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>"
        )

    def _op_ContinuousMove(self, op: Any) -> str:
        self._profile_token(op, "tptz")
        vel = op.find("tptz:Velocity", NS)
        if vel is None:
            raise Fault("ter:InvalidArgVal", "ContinuousMove needs a Velocity")
        vp, vt, vz = _xyz(vel, default=0.0)
        timeout = _duration(op.findtext("tptz:Timeout", default="", namespaces=NS), 60.0)
        self.head.continuous(vp, vt, vz, timeout)
        return "<tptz:ContinuousMoveResponse/>"

    def _op_RelativeMove(self, op: Any) -> str:
        self._profile_token(op, "tptz")
        tr = op.find("tptz:Translation", NS)
        if tr is None:
            raise Fault("ter:InvalidArgVal", "RelativeMove needs a Translation")
        dp, dt, dz = _xyz(tr, default=0.0)
        self.head.relative(dp, dt, dz, _speed(op))
        return "<tptz:RelativeMoveResponse/>"

    def _op_AbsoluteMove(self, op: Any) -> str:
        self._profile_token(op, "tptz")
        pos = op.find("tptz:Position", NS)
        if pos is None:
            raise Fault("ter:InvalidArgVal", "AbsoluteMove needs a Position")
        p, t, z = _xyz(pos, default=None)
        for v, lo, what in ((p, -1, "pan"), (t, -1, "tilt"), (z, 0, "zoom")):
            if v is not None and not lo <= v <= 1:
                raise Fault("ter:InvalidArgVal/ter:InvalidPosition", f"{what} {v} is outside {lo}..1")
        self.head.absolute(p, t, z, _speed(op))
        return "<tptz:AbsoluteMoveResponse/>"

    def _op_Stop(self, op: Any) -> str:
        self._profile_token(op, "tptz")
        pt = (op.findtext("tptz:PanTilt", default="true", namespaces=NS) or "true").strip().lower() != "false"
        zm = (op.findtext("tptz:Zoom", default="true", namespaces=NS) or "true").strip().lower() != "false"
        self.head.stop(pt, zm)
        return "<tptz:StopResponse/>"

    def _op_GetPresets(self, op: Any) -> str:
        self._profile_token(op, "tptz")
        body = "".join(
            f'<tptz:Preset token="{escape(pr.token)}"><tt:Name>{escape(pr.name)}</tt:Name>'
            f"<tt:PTZPosition>{_vector(pr.pan, pr.tilt, pr.zoom)}</tt:PTZPosition></tptz:Preset>"
            for pr in list(self.head.presets.values())
        )
        return f"<tptz:GetPresetsResponse>{body}</tptz:GetPresetsResponse>"

    def _op_SetPreset(self, op: Any) -> str:
        self._profile_token(op, "tptz")
        name = (op.findtext("tptz:PresetName", default="", namespaces=NS) or "").strip() or None
        token = (op.findtext("tptz:PresetToken", default="", namespaces=NS) or "").strip() or None
        if name and len(name) > 64:
            raise Fault("ter:InvalidArgVal/ter:InvalidPresetName", "a preset name has at most 64 characters")
        try:
            token = self.head.set_preset(name, token)
        except KeyError:
            raise Fault("ter:InvalidArgVal/ter:NoToken", f"no preset {token!r} to overwrite") from None
        except ValueError as exc:
            raise Fault("ter:Action/ter:TooManyPresets", str(exc), code="Receiver") from None
        return f"<tptz:SetPresetResponse><tptz:PresetToken>{escape(token)}</tptz:PresetToken></tptz:SetPresetResponse>"

    def _preset_token(self, op: Any) -> str:
        token = (op.findtext("tptz:PresetToken", default="", namespaces=NS) or "").strip()
        if token not in self.head.presets:
            raise Fault("ter:InvalidArgVal/ter:NoToken", f"no preset {token!r}")
        return token

    def _op_GotoPreset(self, op: Any) -> str:
        self._profile_token(op, "tptz")
        self.head.goto_preset(self._preset_token(op), _speed(op))
        return "<tptz:GotoPresetResponse/>"

    def _op_RemovePreset(self, op: Any) -> str:
        self._profile_token(op, "tptz")
        self.head.remove_preset(self._preset_token(op))
        return "<tptz:RemovePresetResponse/>"


def _range(axis: str, lo: float, hi: float, bare: bool = False) -> str:
    inner = f"<tt:Min>{lo}</tt:Min><tt:Max>{hi}</tt:Max>"
    return f"<tt:{axis}>{inner}</tt:{axis}>" if bare else f"<tt:{axis}Range>{inner}</tt:{axis}Range>"


def _vector(p: float, t: float, z: float) -> str:
    return f'<tt:PanTilt x="{p:.6f}" y="{t:.6f}" space="{PT_POS}"/><tt:Zoom x="{z:.6f}" space="{Z_POS}"/>'


def _num(v: str | None, what: str) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        raise Fault("ter:InvalidArgVal", f"{what} {v!r} is not a number") from None


def _xyz(vec: Any, default: float | None) -> tuple[Any, Any, Any]:
    pt, zm = vec.find("tt:PanTilt", NS), vec.find("tt:Zoom", NS)
    p = _num(pt.get("x"), "pan") if pt is not None else None
    t = _num(pt.get("y"), "tilt") if pt is not None else None
    z = _num(zm.get("x"), "zoom") if zm is not None else None
    return (default if p is None else p, default if t is None else t, default if z is None else z)


def _speed(op: Any) -> tuple[float, float]:
    sp = op.find("tptz:Speed", NS)
    if sp is None:
        return (1.0, 1.0)
    p, _t, z = _xyz(sp, default=1.0)
    return (abs(p), abs(z))


def _duration(text: str | None, default: float) -> float:
    """An xs:duration such as PT5S or PT0.5S (the only forms a PTZ timeout takes)."""
    t = (text or "").strip().upper()
    if not t.startswith("PT") or not t.endswith("S"):
        return default
    try:
        return float(t[2:-1])
    except ValueError:
        return default


def envelope(body: str) -> bytes:
    decl = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items() if k not in ("wsse", "wsu"))
    return f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {decl}><s:Body>{body}</s:Body></s:Envelope>'.encode()


def fault(f: Fault) -> bytes:
    subs = f.sub.split("/")
    sub_xml = ""
    for s in reversed(subs):
        sub_xml = f"<s:Subcode><s:Value>{s}</s:Value>{sub_xml}</s:Subcode>"
    return envelope(
        f"<s:Fault><s:Code><s:Value>s:{f.code}</s:Value>{sub_xml}</s:Code>"
        f'<s:Reason><s:Text xml:lang="en">{escape(f.reason)}</s:Text></s:Reason></s:Fault>'
    )


class _Handler(BaseHTTPRequestHandler):
    device: OnvifDevice
    server_version = "koopsuz-sim-onvif/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if 0 < length <= 1_000_000 else b""
        if not self.path.startswith("/onvif/"):
            status, data = 404, fault(Fault("ter:ActionNotSupported", f"no service at {self.path}"))
        else:
            try:
                status, data = 200, envelope(self.device.handle(body))
            except Fault as f:
                status = 400 if f.sub != "ter:NotAuthorized" else 401
                data = fault(f)
            except Exception:  # a bug here must answer the client, not hang it
                log.exception("ONVIF request failed")
                status, data = 500, fault(Fault("ter:Action", "internal error in the simulated device", "Receiver"))
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
