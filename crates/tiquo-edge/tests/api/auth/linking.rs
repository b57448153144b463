//! How a token identity finds its customer: the account link, a verified
//! email linked on first use, scoped by organization and by issuer.

use super::*;

crate::both_backends!(
    verified_email_links_customer_case_insensitively,
    unverified_email_does_not_link,
    email_of_another_organization_does_not_link,
    same_subject_in_another_organization_sees_nothing,
    account_link_is_per_issuer,
);

async fn verified_email_links_customer_case_insensitively(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let customer = app.create_customer("customer@example.com", None);

    let token = app.token_with_email("user_new", "Customer@Example.com", true);
    let data = profile_data(&app, &token).await;
    assert_eq!(data["customer"]["id"], customer["id"]);
    assert_eq!(
        data["user"],
        json!({"id": "user_new", "email": "Customer@Example.com"})
    );

    // The link persists: the same subject without any email claim still gets it.
    let data = profile_data(&app, &app.token("user_new")).await;
    assert_eq!(data["customer"]["id"], customer["id"]);
    assert_eq!(data["user"], json!({"id": "user_new", "email": null}));
}

async fn unverified_email_does_not_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("customer@example.com", None);

    let unverified = app.token_with_email("user_new", "customer@example.com", false);
    let mut claims = app.claims("user_new");
    claims["email"] = json!("customer@example.com");
    let no_verification_claim = app.sign(&claims);
    for token in [unverified, no_verification_claim] {
        let data = profile_data(&app, &token).await;
        assert_eq!(data["customer"], Value::Null);
        assert_eq!(
            data["user"],
            json!({"id": "user_new", "email": "customer@example.com"})
        );
    }
    // Nor was a link made behind the scenes.
    assert_eq!(
        profile_data(&app, &app.token("user_new")).await["customer"],
        Value::Null
    );
}

async fn email_of_another_organization_does_not_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = "other@example.com";
    app.cli_json(&[
        "customers",
        "create",
        "--email",
        email,
        "--organization",
        "org_other",
    ]);

    let data = profile_data(&app, &app.token_with_email("user_new", email, true)).await;
    assert_eq!(data["customer"], Value::Null);
    assert_eq!(data["user"], json!({"id": "user_new", "email": email}));
}

async fn same_subject_in_another_organization_sees_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let customer = app.create_customer("linked@example.com", Some("user_linked"));

    // No organization_id means org_default, where the link lives.
    let implicit = app.token("user_linked");
    assert_eq!(
        profile_data(&app, &implicit).await["customer"]["id"],
        customer["id"]
    );
    let mut claims = app.claims("user_linked");
    claims["organization_id"] = json!("org_default");
    assert_eq!(
        profile_data(&app, &app.sign(&claims)).await["customer"]["id"],
        customer["id"]
    );

    claims["organization_id"] = json!("org_other");
    let data = profile_data(&app, &app.sign(&claims)).await;
    assert_eq!(data["customer"], Value::Null);
    assert_eq!(data["user"], json!({"id": "user_linked", "email": null}));
}

async fn account_link_is_per_issuer(backend: Backend) {
    let (app, _jwks, key) = app_with_trusted_issuer(backend).await;
    let customer = app.cli_json(&[
        "customers",
        "create",
        "--email",
        "idp@example.com",
        "--subject",
        "shared_sub",
        "--issuer",
        TRUSTED_ISS,
    ]);
    let data = profile_data(&app, &key.sign(&trusted_claims("shared_sub"))).await;
    assert_eq!(data["customer"]["id"], customer["id"]);
    // The same sub from the built-in issuer is another identity.
    assert_eq!(
        profile_data(&app, &app.token("shared_sub")).await["customer"],
        Value::Null
    );
}
