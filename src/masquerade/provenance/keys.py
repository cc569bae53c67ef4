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
    """This user's Masquerade credentials, made on first use (or None if absent and `create` is False)."""
    folder = keys_dir()
    if not (folder / KEY_FILE).exists():
        if not create:
            return None
        _create(folder)
    try:
        return Credentials(
            key_pem=(folder / KEY_FILE).read_bytes(),
            chain_pem=(folder / CERT_FILE).read_bytes(),
            trust_anchor_pem=(folder / CA_FILE).read_bytes(),
        )
    except OSError as exc:
        raise ProvenanceError(
            f"cannot read Masquerade's signing keys in {folder}: {exc}; delete the folder to make new ones"
        ) from exc


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
