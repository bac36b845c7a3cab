"""Evidence export cost for a 720p range: the steps of services/evidence.py on recorded segments.

A 60 s 1280x720 15 fps H.264 source (the simulator's bench-10 clip looped, ~0.4 Mbit/s, or a
synthetic noisy 4 Mbit/s one like real cameras send) is cut by ffmpeg into 4 s fMP4 segments the
way the recorder writes them; then timed: hashing every segment against the index, the stream
copy into one MP4 (video/export.py), the watermarked re-encode (video/watermark.py, libx264
veryfast), hashing the outputs, signing and zipping. No database: those rows cost milliseconds.

    .venv/bin/python bench/evidence.py [--seconds 60] [--mbps 4]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import imageio_ffmpeg

from koopsuz.domain.evidence_manifest import canonical_bytes
from koopsuz.security.signing import InstallationKey
from koopsuz.video.export import Run, export_mp4
from koopsuz.video.watermark import Stamp, burn_watermark, piecewise_clock

FF = imageio_ffmpeg.get_ffmpeg_exe()


def source(work: Path, seconds: int, mbps: float) -> Path:
    out = work / "src.mp4"
    if mbps:
        gen = ["-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=15:duration={seconds}"]
        enc = ["-vf", "noise=alls=30:allf=t", "-c:v", "libx264", "-preset", "veryfast", "-b:v", f"{mbps}M"]
        enc += ["-maxrate", f"{mbps}M", "-bufsize", f"{2 * mbps}M", "-g", "15", "-bf", "0"]
        subprocess.run([FF, "-v", "error", *gen, *enc, "-y", str(out)], check=True)
    else:
        clip = max(Path("var/sim/cache").glob("*/main.h264"), key=lambda p: p.stat().st_size)
        looped = work / "src.h264"
        looped.write_bytes(clip.read_bytes() * max(1, seconds // 30))  # 30 s clips, each starting on an IDR
        cmd = [FF, "-v", "error", "-framerate", "15", "-f", "h264", "-i", str(looped)]
        subprocess.run([*cmd, "-c", "copy", "-y", str(out)], check=True)
    return out


def segments(src: Path, work: Path) -> tuple[Path, list[Path]]:
    d = work / "rec"
    d.mkdir()
    hls = ["-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "4", "-hls_playlist_type", "vod"]
    hls += ["-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", str(d / "seg-%06d.m4s")]
    subprocess.run([FF, "-v", "error", "-i", str(src), "-c", "copy", *hls, str(d / "index.m3u8")], check=True)
    return d / "init.mp4", sorted(d.glob("seg-*.m4s"))


def sha(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--mbps", type=float, default=0.0, help="synthetic noisy source at this bitrate (0: simulator)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        init, segs = segments(source(work, args.seconds, args.mbps), work)
        size = sum(p.stat().st_size for p in segs)
        t: dict[str, float] = {}
        t0 = time.perf_counter()
        for p in [init, *segs]:
            sha(p)
        t["verify segments"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        duration = export_mp4([Run(init, segs)], work / "original.mp4")
        t["stream copy"] = time.perf_counter() - t0
        stamp = Stamp("12/2026", "investigator (I. Investigator)", datetime.now(UTC), "bench (bench-1)")
        result = burn_watermark(
            work / "original.mp4", work / "viewing.mp4", stamp, piecewise_clock([(0.0, datetime.now(UTC))])
        )
        t["watermark re-encode"] = result.seconds
        t0 = time.perf_counter()
        hashes = {p: sha(work / p) for p in ("original.mp4", "viewing.mp4")}
        key = InstallationKey(work / "keys")
        key.sign(canonical_bytes({"files": hashes}))
        with zipfile.ZipFile(work / "p.zip", "w") as zf:
            for p in hashes:
                zf.write(work / p, p, compress_type=zipfile.ZIP_STORED)
        t["hash, sign, zip"] = time.perf_counter() - t0
        total = sum(t.values())
        what = f"synthetic {args.mbps:g} Mbit/s" if args.mbps else "simulator bench-10 loop"
        print(f"source: {what}, {duration:.1f} s of 1280x720 @ 15 fps, {len(segs)} segments, {size / 1e6:.1f} MB")
        for k, v in t.items():
            print(f"  {k:22s} {v:7.2f} s   {duration / v:7.1f}x realtime")
        print(
            f"  {'total':22s} {total:7.2f} s   {duration / total:7.1f}x realtime"
            f"   (viewing copy {(work / 'viewing.mp4').stat().st_size / 1e6:.1f} MB, {result.frames} frames)"
        )


if __name__ == "__main__":
    main()
