"""Signing credentials: an ES256 root CA and signing certificate made once per user, or the user's own.

Why per-user and offline: every output must be signed with no network and no account. The root CA's
private key is thrown away after it issues the one signing certificate, so a stolen config folder cannot
mint further certificates; the CA certificate stays as this user's trust anchor for `verify`.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from masquerade.errors import ProvenanceError

ORGANIZATION = "Masquerade"
KEY_FILE, CERT_FILE, CA_FILE = "signing_key.pem", "signing_cert.pem", "root_ca.pem"
_VALID_YEARS = 10


def masquerade_home() -> Path:
    """The user's Masquerade config folder: $MASQUERADE_HOME, else the platform's user config dir."""
    env = os.environ.get("MASQUERADE_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("masquerade"))


def keys_dir() -> Path:
    return masquerade_home() / "keys"


@dataclass(frozen=True)
class Credentials:
    """A PKCS#8 ES256 private key and its PEM certificate chain (signing certificate first)."""

    key_pem: bytes = field(repr=False)
    chain_pem: bytes
    trust_anchor_pem: bytes | None = None  # the root to trust when verifying; None for foreign chains

    @classmethod
    def from_files(cls, key_path: str | os.PathLike[str], cert_path: str | os.PathLike[str]) -> Credentials:
        """Use your own key and certificate chain (PEM; the signing certificate first, then its issuers)."""
        try:
            key_bytes = Path(key_path).read_bytes()
            chain = Path(cert_path).read_bytes()
        except OSError as exc:
            raise ProvenanceError(
                f"cannot read signing credentials: {exc}; check the key and certificate paths"
            ) from exc
        try:
            key = serialization.load_pem_private_key(key_bytes, password=None)
            certs = x509.load_pem_x509_certificates(chain)
        except (ValueError, TypeError) as exc:
            raise ProvenanceError(
                f"signing credentials are not an unencrypted PEM private key and PEM certificates: {exc}"
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ProvenanceError("the signing key must be an EC P-256 (ES256) key")
        if certs[0].public_key().public_numbers() != key.public_key().public_numbers():
            raise ProvenanceError("the private key does not match the first certificate in the chain")
        pkcs8 = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        anchor = certs[-1].public_bytes(serialization.Encoding.PEM) if len(certs) > 1 else None
        return cls(key_pem=pkcs8, chain_pem=chain, trust_anchor_pem=anchor)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.chain_pem)[0]

    def certificate_name(self) -> str | None:
        """The signing certificate's common name (what `verify` shows as the signer)."""
        names = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else None

    def signer(self):  # -> c2pa.Signer (imported lazily: the native library is heavy)
        from c2pa import C2paSignerInfo, C2paSigningAlg, Signer

        try:
            info = C2paSignerInfo(
                alg=C2paSigningAlg.ES256, sign_cert=self.chain_pem, private_key=self.key_pem, ta_url=None
            )
            return Signer.from_info(info)
        except Exception as exc:  # noqa: BLE001 - c2pa raises its own error tree
            raise ProvenanceError(f"cannot create a C2PA signer from these credentials: {exc}") from exc


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def generate() -> tuple[bytes, bytes, bytes]:
    """Make a fresh root CA and signing certificate; returns (key PKCS#8 PEM, chain PEM, CA PEM)."""
    now = dt.datetime.now(dt.timezone.utc)
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=365 * _VALID_YEARS)
    tag = secrets.token_hex(4)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"Masquerade user root CA {tag}")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(_name(f"Masquerade synthetic media signer {tag}")).issuer_name(ca_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    ca_pem = ca.public_bytes(pem)
    return key_pem, leaf.public_bytes(pem) + ca_pem, ca_pem


def load_default(create: bool = True) -> Credentials | None:
    """This user's Masquerade credentials, made on first use (or None if absent and `create` is False).

    Checked as `check_credentials` does (permissions, parse, key matches certificate, dates).
    """
    if not create and not keys_dir().exists():
        return None
    return check_credentials()


def check_credentials() -> Credentials:
    """Load this user's signing key and certificate and check them before any work; made on first use.

    Why up front: a broken key used to surface only when signing, after a whole video had been encoded.
    Cheap (a few ms, no signing). Raises ProvenanceError with one line that says what to do.
    """
    folder = keys_dir()
    key_path, cert_path, ca_path = folder / KEY_FILE, folder / CERT_FILE, folder / CA_FILE
    if not folder.exists():
        _create(folder)
    elif not folder.is_dir():
        raise ProvenanceError(f"{folder} should be Masquerade's keys folder but is a file; move it away")
    missing = [p.name for p in (key_path, cert_path, ca_path) if not p.exists()]
    if missing:
        raise ProvenanceError(
            f"{', '.join(missing)} missing from {folder}: restore {'it' if len(missing) == 1 else 'them'} from "
            f"a backup, or move the folder {folder} away and Masquerade makes a new key next time "
            "(outputs signed with the old key then show as another installation's)"
        )
    _check_private(key_path)
    try:
        key_pem, chain_pem, ca_pem = key_path.read_bytes(), cert_path.read_bytes(), ca_path.read_bytes()
    except OSError as exc:
        raise ProvenanceError(f"cannot read Masquerade's signing keys in {folder}: {exc.strerror}; "
                              f"check the folder's owner and permissions") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ProvenanceError(f"{key_path} is not a readable unencrypted PEM private key (damaged?); restore it "
                              f"from a backup, or move {folder} away to make a new key") from exc
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
        x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        raise ProvenanceError(f"the certificates in {folder} are damaged; restore them from a backup, "
                              f"or move {folder} away to make a new key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ProvenanceError(f"{key_path} is not an EC P-256 (ES256) key; move {folder} away to make a new key")
    if certs[0].public_key().public_numbers() != key.public_key().public_numbers():
        raise ProvenanceError(f"{key_path} does not match the certificate {cert_path}; put back the matching "
                              f"pair, or move {folder} away to make a new key")
    now = dt.datetime.now(dt.timezone.utc)
    if not certs[0].not_valid_before_utc <= now <= certs[0].not_valid_after_utc:
        raise ProvenanceError(f"the signing certificate {cert_path} is not valid today "
                              f"({certs[0].not_valid_before_utc:%Y-%m-%d} to {certs[0].not_valid_after_utc:%Y-%m-%d}); "
                              f"check the system clock, or move {folder} away to make a new key")
    return Credentials(key_pem=key_pem, chain_pem=chain_pem, trust_anchor_pem=ca_pem)


def _check_private(key_path: Path) -> None:
    """Refuse a key that other users may read or replace (POSIX only: Windows has no mode bits)."""
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(key_path.stat().st_mode)
    except OSError as exc:
        raise ProvenanceError(f"cannot read the signing key {key_path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise ProvenanceError(f"the signing key {key_path} is open to other users (mode {mode:04o}); "
                              f"run: chmod 600 {key_path}")


def trust_anchor() -> bytes | None:
    """This user's root CA certificate, if credentials were ever made here (never creates them)."""
    path = keys_dir() / CA_FILE
    return path.read_bytes() if path.exists() else None


def _create(folder: Path) -> None:
    """Write the three files into a temp folder, then rename it into place: all or nothing, race-safe."""
    key_pem, chain_pem, ca_pem = generate()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".keys-", dir=folder.parent))
    except OSError as exc:
        raise ProvenanceError(
            f"cannot create Masquerade's config folder {folder.parent}: {exc}; set MASQUERADE_HOME to a writable folder"
        ) from exc
    try:
        fd = os.open(tmp / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        (tmp / CERT_FILE).write_bytes(chain_pem)
        (tmp / CA_FILE).write_bytes(ca_pem)
        os.chmod(tmp, 0o700)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / KEY_FILE).exists():  # not a lost race: a real failure
                raise
    except OSError as exc:
        raise ProvenanceError(
            f"cannot write signing keys to {folder}: {exc}; set MASQUERADE_HOME to a writable folder"
        ) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
