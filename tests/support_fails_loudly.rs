//! The end-to-end tests must fail, not skip, without a control plane: the support client reports
//! an unreachable API server as an error that says so.

mod support;

#[tokio::test]
async fn an_unreachable_api_server_is_an_error_not_a_skip() {
    let dir = std::env::temp_dir().join(support::unique_name("kubeconfig"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("kubeconfig");
    // Port 1 on loopback: nothing listens there.
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n\
         users:\n- name: u\n  user: {}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
         current-context: x\n",
    )
    .expect("write kubeconfig");
    let result = support::try_client(path.to_str().expect("utf-8 path")).await;
    let _ = std::fs::remove_dir_all(&dir);
    let err = result.err().expect("no API server at 127.0.0.1:1, so no client");
    assert!(err.contains("127.0.0.1:1") && err.contains("unreachable"), "{err}");
}
