"""The files in deploy/ cannot be run here (no Docker engine, no cluster, no systemd as
init), so they are checked the way a reviewer would: by the linters and schemas of their
tools, against each other, and against what the tracker actually reads and runs."""

import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from tests.servers import running_server

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
TRACKER_BIN = "/opt/consent-tracker/.venv/bin/tracker"


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield path, document


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for _, document in k8s_documents():
        if document["kind"] not in ("Deployment", "Job", "CronJob"):
            continue
        spec = document["spec"]
        if document["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        yield document["metadata"]["name"], spec["template"]["spec"]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [BIN / "hadolint", DEPLOY / "Dockerfile"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_a_user_and_checks_its_health() -> None:
    final_stage = (DEPLOY / "Dockerfile").read_text().split("\nFROM ")[-1]
    user = re.search(r"^USER (\S+)", final_stage, re.MULTILINE)
    assert user is not None and user.group(1) not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*/healthz", final_stage, re.MULTILINE | re.DOTALL)
    assert 'ENTRYPOINT ["tracker"]' in final_stage


def test_the_image_copies_what_exists_and_the_ignore_file_lets_it_through() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    sources = [
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.MULTILINE)
        for source in line.split()[:-1]
    ]
    assert {"pyproject.toml", "README.md", "tracker", "consent", "aggregates", "sql"} <= set(
        sources
    )
    allowed = {
        line.removeprefix("!").removesuffix("/**")
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source in allowed, f"{source} is excluded from the build context"


def test_every_kubernetes_manifest_is_valid_for_the_current_release() -> None:
    assert len(MANIFESTS) >= 9
    kinds = set()
    for path, document in k8s_documents():
        try:
            kubernetes_validate.validate(document, "1.37.0", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {exc.message} at {'.'.join(map(str, exc.path))}")
        kinds.add(document["kind"])
    assert kinds >= {
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "CronJob",
        "Secret",
        "ConfigMap",
    }


def test_every_container_is_limited_unprivileged_and_probed_the_right_way() -> None:
    for name, spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            limits = container["resources"]["limits"]
            assert {"cpu", "memory"} <= set(limits), name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            if container.get("ports"):  # the HTTP server
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
                # A database outage must not restart a server that keeps serving.
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_services_budgets_and_scalers_point_at_the_server_pods() -> None:
    documents = {(d["kind"], d["metadata"]["name"]): d for _, d in k8s_documents()}
    server = documents[("Deployment", "consent-tracker")]
    pod_labels = server["spec"]["template"]["metadata"]["labels"]
    service = documents[("Service", "consent-tracker")]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    pdb = documents[("PodDisruptionBudget", "consent-tracker")]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = documents[("HorizontalPodAutoscaler", "consent-tracker")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "consent-tracker"
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]
    port_names = {port["name"] for port in service["spec"]["ports"]}
    ingress = documents[("Ingress", "consent-tracker")]
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    for path in paths:
        assert path["backend"]["service"]["name"] == "consent-tracker"
        assert path["backend"]["service"]["port"]["name"] in port_names
    routed = {path["path"] for path in paths}
    assert {"/o/", "/c/", "/consent", "/api/"} <= routed
    assert not any(path.startswith("/metrics") for path in routed)


def test_secret_files_named_in_the_config_are_the_keys_the_secret_mounts() -> None:
    documents = {(d["kind"], d["metadata"]["name"]): d for _, d in k8s_documents()}
    config = documents[("ConfigMap", "consent-tracker")]["data"]
    secret_keys = set(documents[("Secret", "consent-tracker")]["stringData"])
    files = {name: value for name, value in config.items() if name.endswith("_FILE")}
    for _, spec in pod_specs():
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        for path in files.values():
            directory, _, key = path.rpartition("/")
            assert directory == mounts["secrets"] and key in secret_keys


def deploy_texts() -> dict[str, str]:
    files = [*MANIFESTS, *UNITS, DEPLOY / "compose.yaml", DEPLOY / "Dockerfile"]
    return {path.name: path.read_text() for path in files}


def test_every_variable_the_deploy_files_set_is_one_the_tracker_reads() -> None:
    settings = (ROOT / "tracker" / "settings.py").read_text()
    named = {
        (name, variable)
        for name, text in deploy_texts().items()
        for variable in re.findall(r"\b((?:TRACKER|DATABASE)_[A-Z_]+)\b", text)
    }
    assert len(named) > 20
    for name, variable in named:
        if variable == "TRACKER_DOMAIN":  # compose's and Caddy's own, for the host name
            continue
        assert f'"{variable}' in settings or f'"{variable.removesuffix("_FILE")}' in settings, (
            f"{name} sets {variable}, which the tracker does not read"
        )


def test_every_command_the_deploy_files_run_is_a_tracker_command() -> None:
    commands: set[tuple[str, ...]] = set()
    for _, spec in pod_specs():
        for container in spec["containers"]:
            commands.add(tuple(container["args"]))
    for service in compose()["services"].values():
        if "command" in service:
            commands.add(tuple(service["command"]))
    for unit in UNITS:
        for line in re.findall(rf"^Exec\w*={TRACKER_BIN} (.+)$", unit.read_text(), re.MULTILINE):
            commands.add(tuple(line.split()))
    assert {("migrate",), ("webhook", "deliver"), ("dpo", "purge")} <= commands
    for command in commands:
        words = [word for word in command if not word.startswith("-")][:2]
        words = words[:1] if words[0] in ("serve", "migrate") else words
        result = subprocess.run(
            [sys.executable, "-m", "tracker.cli", *words, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"tracker {' '.join(command)}: {result.stderr}"
        for flag in (word.split("=")[0] for word in command if word.startswith("--")):
            assert flag in result.stdout, f"tracker {' '.join(words)} has no {flag}"


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [
            BIN / "check-jsonschema",
            *("--builtin-schema", "vendor.compose-spec"),
            DEPLOY / "compose.yaml",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_migrations_first_and_caddy_reaches_the_tracker() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("tracker", "deliver"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["tracker"]["environment"]["TRACKER_WEBHOOK_DELIVERY"] == "off"
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    target = re.search(r"reverse_proxy (\S+):(\d+)", caddyfile)
    assert target is not None and target.group(1) in services
    assert f"EXPOSE {target.group(2)}" in (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"respond /metrics 404", caddyfile)
    subnet = compose()["networks"]["backend"]["ipam"]["config"][0]["subnet"]
    assert services["tracker"]["environment"]["TRACKER_TRUSTED_PROXIES"] == subnet
    for secret in compose()["secrets"].values():
        assert secret["file"].startswith("./secrets/")  # outside the repository's tracked files


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    # systemd-analyze checks that the executables exist: point them at a stand-in.
    stand_in = tmp_path / "tracker"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    copies = []
    for unit in UNITS:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(TRACKER_BIN, str(stand_in)))
        copies.append(copy)
    result = subprocess.run(
        ["systemd-analyze", "verify", *copies], capture_output=True, text=True, check=False
    )
    # verify exits 0 on unknown keys and bad values too, but says so on stderr.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_server_starts_with_secrets_given_as_files_the_way_the_deploy_files_do(
    dsn: str, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "database_url").write_text(dsn)
    for name in ("signing_keys", "kek", "blind_index_key"):
        (secrets / name).write_text(base64.b64encode(os.urandom(32)).decode())
    env = {
        name: value.replace("/run/secrets/consent-tracker", str(secrets))
        for name, value in yaml.safe_load((DEPLOY / "k8s" / "configmap.yaml").read_text())[
            "data"
        ].items()
    }
    env["TRACKER_DATA_DIR"] = str(tmp_path / "data")
    with running_server(env, tmp_path / "server.log") as base:
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200
        assert httpx.get(f"{base}/o/not-a-token").headers["content-type"] == "image/gif"
