"""Per-user signing credentials: made once, stored privately, usable by c2pa; a user's own keys load too."""

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from masquerade.errors import ProvenanceError
from masquerade.provenance import keys


def test_created_once_under_masquerade_home(masquerade_home):
    assert keys.load_default(create=False) is None and keys.trust_anchor() is None
    first = keys.load_default()
    folder = masquerade_home / "keys"
    assert {p.name for p in folder.iterdir()} == {keys.KEY_FILE, keys.CERT_FILE, keys.CA_FILE}
    assert stat.S_IMODE(os.stat(folder / keys.KEY_FILE).st_mode) == 0o600
    assert keys.load_default() == first  # not regenerated
    assert keys.trust_anchor() == first.trust_anchor_pem


def test_home_falls_back_to_platform_config_dir(monkeypatch):
    import platformdirs

    monkeypatch.delenv("MASQUERADE_HOME")
    assert keys.masquerade_home() == Path(platformdirs.user_config_dir("masquerade"))


def test_certificate_profile():
    creds = keys.load_default()
    leaf, ca = x509.load_pem_x509_certificates(creds.chain_pem)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey) and leaf.public_key().curve.name == "secp256r1"
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ski
    assert leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.verify_directly_issued_by(ca)
    assert creds.trust_anchor_pem == ca.public_bytes(serialization.Encoding.PEM)
    assert creds.signer() is not None


def test_from_files_uses_the_users_own_credentials(tmp_path):
    key_pem, chain_pem, ca_pem = keys.generate()
    (tmp_path / "k.pem").write_bytes(key_pem)
    (tmp_path / "c.pem").write_bytes(chain_pem)
    creds = keys.Credentials.from_files(tmp_path / "k.pem", tmp_path / "c.pem")
    assert creds.chain_pem == chain_pem and creds.trust_anchor_pem == ca_pem
    assert keys.load_default(create=False) is None  # nothing made behind the user's back


def test_from_files_rejects_a_mismatched_key(tmp_path):
    other_key, _, _ = keys.generate()
    _, chain_pem, _ = keys.generate()
    (tmp_path / "k.pem").write_bytes(other_key)
    (tmp_path / "c.pem").write_bytes(chain_pem)
    with pytest.raises(ProvenanceError, match="does not match"):
        keys.Credentials.from_files(tmp_path / "k.pem", tmp_path / "c.pem")


def test_from_files_reports_missing_and_garbage_files(tmp_path):
    with pytest.raises(ProvenanceError, match="cannot read"):
        keys.Credentials.from_files(tmp_path / "none.pem", tmp_path / "none.crt")
    (tmp_path / "k.pem").write_text("not a key")
    (tmp_path / "c.pem").write_text("not a cert")
    with pytest.raises(ProvenanceError):
        keys.Credentials.from_files(tmp_path / "k.pem", tmp_path / "c.pem")


def test_check_credentials_makes_keys_once_then_accepts_them(masquerade_home):
    first = keys.check_credentials()
    assert keys.check_credentials() == first == keys.load_default()
    assert first.certificate_name().startswith("Masquerade synthetic media signer")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_open_to_other_users_is_refused_with_the_fix(masquerade_home, mode):
    keys.check_credentials()
    key = masquerade_home / "keys" / keys.KEY_FILE
    os.chmod(key, mode)
    with pytest.raises(ProvenanceError) as err:
        keys.check_credentials()
    assert f"chmod 600 {key}" in str(err.value) and "\n" not in str(err.value)
    os.chmod(key, 0o600)
    keys.check_credentials()


def test_missing_key_file_says_restore_or_move_the_folder(masquerade_home):
    keys.check_credentials()
    (masquerade_home / "keys" / keys.KEY_FILE).unlink()
    with pytest.raises(ProvenanceError, match="signing_key.pem missing from .*restore it from a backup, or move"):
        keys.check_credentials()
    assert not (masquerade_home / "keys" / keys.KEY_FILE).exists()  # never silently replaced


@pytest.mark.parametrize("damage", ["garbage_key", "other_key", "garbage_cert"])
def test_damaged_or_mismatched_credentials_are_refused(masquerade_home, damage):
    keys.check_credentials()
    folder = masquerade_home / "keys"
    if damage == "garbage_key":
        (folder / keys.KEY_FILE).write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
        expect = "not a readable unencrypted PEM private key"
    elif damage == "other_key":
        (folder / keys.KEY_FILE).write_bytes(keys.generate()[0])
        expect = "does not match the certificate"
    else:
        (folder / keys.CERT_FILE).write_text("nonsense")
        expect = "certificates in .* are damaged"
    with pytest.raises(ProvenanceError, match=expect):
        keys.check_credentials()


def test_corrupt_key_fails_before_a_video_writer_takes_frames(masquerade_home, tmp_path):
    from masquerade.provenance import Provenance, SyntheticVideoWriter

    keys.check_credentials()
    (masquerade_home / "keys" / keys.KEY_FILE).write_text("corrupt")
    os.chmod(masquerade_home / "keys" / keys.KEY_FILE, 0o600)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ProvenanceError):
        SyntheticVideoWriter(out / "swap.mp4", 25, 64, 64, Provenance("ab" * 8))
    assert list(out.iterdir()) == []
