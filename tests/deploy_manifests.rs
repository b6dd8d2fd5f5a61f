//! The deployment files agree with the bot and with each other: each `stagecoach.yaml` the
//! Kubernetes manifests ship parses with the bot's own parser and names the paths, port and
//! environment variables the Deployment provides, and the Deployment mounts the config where
//! the Dockerfile's default arguments read it. (Rendering and schema validation of the same
//! files: `scripts/check-manifests.sh`; building the image: `scripts/check-image.sh`.)

use std::path::{Path, PathBuf};

use serde_json::Value;
use stagecoach::config::Config;

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_file(relative))
        .unwrap_or_else(|e| panic!("{relative}: cannot read: {e}"))
}

fn load_config(relative: &str) -> Config {
    Config::load(&repo_file(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The Deployment's one container and its pod spec.
fn deployment() -> (Value, Value) {
    let text = read("deploy/kubernetes/base/deployment.yaml");
    let deployment: Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("deploy/kubernetes/base/deployment.yaml: {e}"));
    let pod = deployment["spec"]["template"]["spec"].clone();
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    (containers[0].clone(), deployment)
}

fn mount_path<'a>(container: &'a Value, volume: &str) -> &'a str {
    container["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["name"] == volume)
        .and_then(|m| m["mountPath"].as_str())
        .unwrap_or_else(|| panic!("no mount of volume {volume}"))
}

fn volume<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

/// The secret and key an environment variable comes from; never a literal value.
fn env_from_secret(container: &Value, var: &str) -> (String, String, bool) {
    let env = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == var)
        .unwrap_or_else(|| panic!("the Deployment does not set {var}"));
    assert!(
        env.get("value").is_none(),
        "{var} must come from a Secret, not a literal value"
    );
    let reference = &env["valueFrom"]["secretKeyRef"];
    (
        reference["name"].as_str().expect("secret name").to_string(),
        reference["key"].as_str().expect("secret key").to_string(),
        reference["optional"].as_bool().unwrap_or(false),
    )
}

fn container_port(container: &Value) -> u64 {
    container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["name"] == "http")
        .and_then(|p| p["containerPort"].as_u64())
        .expect("a port named http")
}

/// The argument of a Dockerfile instruction (`CMD`, `EXPOSE`, ...), from its one line.
fn dockerfile(instruction: &str) -> String {
    let text = read("Dockerfile");
    let prefix = format!("{instruction} ");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    let line = lines
        .next()
        .unwrap_or_else(|| panic!("Dockerfile: no {instruction}"));
    assert!(lines.next().is_none(), "Dockerfile: one {instruction}");
    line[prefix.len()..].trim().to_string()
}

#[test]
fn the_token_config_parses_and_names_what_the_deployment_provides() {
    let config = load_config("deploy/kubernetes/base/stagecoach.yaml");
    let (container, _) = deployment();

    assert!(config.forge.app.is_none(), "the base uses token auth");
    assert!(
        config.forge.token.is_none(),
        "no token in a file kept in git"
    );
    assert!(
        config.server.webhook_secret.is_none(),
        "no webhook secret in a file kept in git"
    );
    let token_var = config
        .forge
        .token_env
        .as_deref()
        .unwrap_or("STAGECOACH_TOKEN");
    let (secret, key, _) = env_from_secret(&container, token_var);
    assert_eq!((secret.as_str(), key.as_str()), ("stagecoach", "token"));
    // The bot reads its webhook secret from exactly this variable; without it every webhook
    // is refused, so the Deployment must not treat it as optional.
    let (secret, key, optional) = env_from_secret(&container, "STAGECOACH_WEBHOOK_SECRET");
    assert_eq!(
        (secret.as_str(), key.as_str()),
        ("stagecoach", "webhook-secret")
    );
    assert!(!optional, "the webhook secret is required");

    assert_eq!(
        config.git.cache_dir,
        Path::new(mount_path(&container, "git-cache"))
    );
    let (host, port) = config.server.listen.rsplit_once(':').expect("host:port");
    assert_eq!(
        host, "0.0.0.0",
        "in a pod the bot must listen beyond loopback"
    );
    assert_eq!(
        port.parse::<u64>().expect("port"),
        container_port(&container)
    );
}

#[test]
fn the_github_app_config_parses_and_reads_the_key_where_the_secret_is_mounted() {
    let config = load_config("deploy/kubernetes/github-app/stagecoach.yaml");
    let (container, deployment) = deployment();
    let app = config.forge.app.as_ref().expect("forge.app");

    let key_volume = &volume(&deployment, "github-app")["secret"];
    assert_eq!(key_volume["secretName"], "stagecoach");
    let item = key_volume["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["key"] == "app-private-key.pem")
        .expect("the key app-private-key.pem is mounted");
    let mounted = Path::new(mount_path(&container, "github-app"))
        .join(item["path"].as_str().expect("item path"));
    assert_eq!(app.private_key, mounted);
    assert_eq!(
        config.git.cache_dir,
        Path::new(mount_path(&container, "git-cache"))
    );
}

#[test]
fn the_config_is_mounted_where_the_image_reads_it() {
    let (container, deployment) = deployment();
    let cmd: Vec<String> = serde_json::from_str(&dockerfile("CMD")).expect("CMD is a JSON array");
    let config_path = cmd
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1].clone())
        .expect("CMD has --config");
    assert_eq!(mount_path(&container, "config"), config_path);
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg"))
        .collect();
    assert_eq!(args[..3], ["serve", "--config", config_path.as_str()]);

    assert_eq!(
        dockerfile("EXPOSE").parse::<u64>().expect("EXPOSE port"),
        container_port(&container)
    );
    let volumes: Vec<String> = serde_json::from_str(&dockerfile("VOLUME")).expect("VOLUME array");
    assert_eq!(volumes, [mount_path(&container, "git-cache")]);
    let user = dockerfile("USER");
    let uid = user.split(':').next().expect("uid");
    let pod_security = &deployment["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(pod_security["runAsUser"].to_string(), uid);
}

#[test]
fn one_non_root_replica_is_probed_for_health_and_readiness() {
    let (container, deployment) = deployment();
    // No leader election: exactly one bot, and an upgrade stops it before starting the next.
    assert_eq!(deployment["spec"]["replicas"], 1);
    // Safe since one bot acts at a time (the lease): the new pod waits for the old one's.
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );

    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], "http", "{probe}");
    }
    let pod_security = &deployment["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(pod_security["runAsNonRoot"], true);
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"][kind][resource].is_string(),
                "resources.{kind}.{resource}"
            );
        }
    }
}
