//! `POST /profile/photo` (attach), `DELETE /profile/photo` (detach), and
//! `PATCH /profile` releasing an uploaded photo: what each answers, which
//! ids it refuses, and that a photo the customer stops using is deleted.

use serde_json::{Value, json};

use super::{
    attach, attach_body, cleanup_rows, delete_photo, execute, fetch, jpeg, object_rows, png,
    set_photo, stored_keys, upload_image,
};
use crate::helpers::{Backend, Storage, TestApp, assert_error, json_of};

crate::storage_matrix!(
    attach_answers_customer_photo_url_and_storage_id,
    attaching_the_same_id_again_changes_nothing,
    other_customers_ids_are_refused_like_unknown_ones,
    objects_breaking_the_image_rules_are_refused,
    malformed_bodies_are_refused,
    attach_and_detach_need_a_customer_and_a_token,
    a_new_photo_deletes_the_previous_one,
    concurrent_attaches_leave_exactly_one_photo,
    delete_removes_the_photo_and_its_object,
    delete_without_a_photo_answers_null,
    patch_null_releases_the_uploaded_photo,
    patch_external_url_releases_the_uploaded_photo,
    patch_of_other_fields_keeps_the_photo,
    a_released_id_cannot_be_attached_again,
);

/// The URL an attached object is served at.
fn photo_url(app: &TestApp, storage_id: &str) -> String {
    app.api(&format!("/storage/{storage_id}"))
}

/// The object's key in storage.
fn key(storage_id: &str) -> String {
    format!("photos/{storage_id}")
}

/// `GET /profile` → `data.customer`.
async fn customer_of(app: &TestApp, token: &str) -> Value {
    json_of(app.get_profile(token).await, 200).await["data"]["customer"].clone()
}

/// The object is gone everywhere: no key, no row, no queue entry, URL 404.
async fn assert_released(app: &TestApp, storage_id: &str) {
    assert!(
        !stored_keys(app).await.contains(&key(storage_id)),
        "{storage_id} still stored: {:?}",
        stored_keys(app).await
    );
    assert_error(fetch(app, storage_id).await, 404, "not_found").await;
}

/// A storageId of the right shape that no upload has.
const UNKNOWN_ID: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAA";

async fn attach_answers_customer_photo_url_and_storage_id(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (customer, token) = app.customer_with_token("attach@example.com");
    let before = customer_of(&app, &token).await;
    assert_eq!(before["profilePhoto"], Value::Null);

    let id = upload_image(&app, &token, "image/jpeg", jpeg(2000)).await;
    let body = json_of(attach(&app, &token, &id).await, 200).await;
    assert_eq!(body["success"], json!(true), "{body}");
    let data = &body["data"];
    let mut keys: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["customer", "profilePhoto", "storageId"], "{data}");
    let url = photo_url(&app, &id);
    assert_eq!(data["profilePhoto"], json!(url));
    assert_eq!(data["storageId"], json!(id));
    assert_eq!(data["customer"]["id"], customer["id"]);
    assert_eq!(data["customer"]["email"], json!("attach@example.com"));
    assert_eq!(data["customer"]["profilePhoto"], json!(url));
    assert_eq!(data["customer"]["createdAt"], before["createdAt"]);

    // The profile agrees, and the photo is now served.
    assert_eq!(customer_of(&app, &token).await, data["customer"]);
    let served = fetch(&app, &id).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert_eq!(served.bytes().await.unwrap().to_vec(), jpeg(2000));
    assert_eq!(object_rows(&app).await, 1);
}

async fn attaching_the_same_id_again_changes_nothing(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("again@example.com");
    let (id, first) = set_photo(&app, &token, png(500)).await;

    let second = json_of(attach(&app, &token, &id).await, 200).await;
    assert_eq!(
        second["data"], first,
        "a repeat must answer exactly as the first"
    );
    assert_eq!(customer_of(&app, &token).await, first["customer"]);
    assert_eq!(stored_keys(&app).await, vec![key(&id)]);
    assert_eq!(object_rows(&app).await, 1);
    assert_eq!(cleanup_rows(&app).await, 0);
    assert_eq!(fetch(&app, &id).await.status(), 200);
}

async fn other_customers_ids_are_refused_like_unknown_ones(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, alice) = app.customer_with_token("alice@example.com");
    let (_, bob) = app.customer_with_token("bob@example.com");
    let (bob_photo, _) = set_photo(&app, &bob, png(300)).await;
    let bob_upload = upload_image(&app, &bob, "image/png", png(400)).await;
    let alice_before = customer_of(&app, &alice).await;
    let bob_before = customer_of(&app, &bob).await;

    let unknown = assert_error(
        attach(&app, &alice, UNKNOWN_ID).await,
        400,
        "invalid_storage_id",
    )
    .await["error"]
        .clone();
    for id in [&bob_photo, &bob_upload] {
        let body = assert_error(attach(&app, &alice, id).await, 400, "invalid_storage_id").await;
        assert_eq!(
            body["error"], unknown,
            "another customer's id must not be told apart from an unknown one"
        );
    }
    for malformed in ["../x", "", "a b", &"A".repeat(200)] {
        assert_error(
            attach(&app, &alice, malformed).await,
            400,
            "invalid_storage_id",
        )
        .await;
    }

    // Nobody changed; Bob's photo is still served and his upload still his.
    assert_eq!(customer_of(&app, &alice).await, alice_before);
    assert_eq!(customer_of(&app, &bob).await, bob_before);
    assert_eq!(fetch(&app, &bob_photo).await.status(), 200);
    assert_eq!(fetch(&app, &bob_upload).await.status(), 404);
    json_of(attach(&app, &bob, &bob_upload).await, 200).await;
}

async fn objects_breaking_the_image_rules_are_refused(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("rules@example.com");
    let before = customer_of(&app, &token).await;
    // Uploads are checked already; rows written by anything else are not.
    let html = upload_image(&app, &token, "image/png", png(100)).await;
    execute(
        &app,
        &format!(
            "UPDATE stored_objects SET content_type = 'text/html' WHERE storage_id = '{html}'"
        ),
    )
    .await;
    let big = upload_image(&app, &token, "image/png", png(100)).await;
    execute(
        &app,
        &format!("UPDATE stored_objects SET size_bytes = 5242880 WHERE storage_id = '{big}'"),
    )
    .await;
    for id in [&html, &big] {
        assert_error(attach(&app, &token, id).await, 400, "invalid_storage_id").await;
        assert_eq!(
            fetch(&app, id).await.status(),
            404,
            "refused means not attached"
        );
    }
    assert_eq!(customer_of(&app, &token).await, before);

    // One byte under 5 MiB is accepted.
    execute(
        &app,
        &format!("UPDATE stored_objects SET size_bytes = 5242879 WHERE storage_id = '{big}'"),
    )
    .await;
    json_of(attach(&app, &token, &big).await, 200).await;
}

async fn malformed_bodies_are_refused(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("bodies@example.com");
    let id = upload_image(&app, &token, "image/png", png(100)).await;
    let before = customer_of(&app, &token).await;

    for (body, field) in [
        (json!({}), "storageId"),
        (json!({ "storageId": 5 }), "storageId"),
        (json!({ "storageId": null }), "storageId"),
        (json!({ "storageId": [id] }), "storageId"),
        (json!({ "storageId": id, "photo": "x" }), "photo"),
        (json!({ "storageid": id }), "storageid"),
    ] {
        let error =
            assert_error(attach_body(&app, &token, &body).await, 400, "invalid_field").await;
        assert_eq!(error["field"], json!(field), "{body}: {error}");
    }
    for body in [json!([id]), json!(id), json!(null), json!(1)] {
        assert_error(
            attach_body(&app, &token, &body).await,
            400,
            "invalid_request",
        )
        .await;
    }
    assert_eq!(customer_of(&app, &token).await, before);
    assert_eq!(fetch(&app, &id).await.status(), 404);
}

async fn attach_and_detach_need_a_customer_and_a_token(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("owner@example.com");
    let id = upload_image(&app, &token, "image/png", png(100)).await;

    let stranger = app.token("user_without_customer");
    assert_error(
        attach(&app, &stranger, &id).await,
        400,
        "no_customer_profile",
    )
    .await;
    assert_error(
        delete_photo(&app, &stranger).await,
        400,
        "no_customer_profile",
    )
    .await;

    let post = app
        .client
        .post(app.api("/profile/photo"))
        .json(&json!({ "storageId": id }))
        .send()
        .await
        .unwrap();
    assert_error(post, 401, "invalid_token").await;
    let delete = app
        .client
        .delete(app.api("/profile/photo"))
        .send()
        .await
        .unwrap();
    assert_error(delete, 401, "invalid_token").await;
    assert_error(attach(&app, "not-a-jwt", &id).await, 401, "invalid_token").await;

    // None of that attached anything.
    assert_eq!(fetch(&app, &id).await.status(), 404);
    assert_eq!(customer_of(&app, &token).await["profilePhoto"], Value::Null);
}

async fn a_new_photo_deletes_the_previous_one(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("replace@example.com");
    let (a, _) = set_photo(&app, &token, png(700)).await;
    assert_eq!(stored_keys(&app).await, vec![key(&a)]);

    let (b, data) = set_photo(&app, &token, png(800)).await;
    assert_ne!(a, b);
    assert_eq!(data["profilePhoto"], json!(photo_url(&app, &b)));
    assert_eq!(stored_keys(&app).await, vec![key(&b)]);
    assert_released(&app, &a).await;
    assert_eq!(object_rows(&app).await, 1);
    assert_eq!(cleanup_rows(&app).await, 0);
    let served = fetch(&app, &b).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().to_vec(), png(800));
    assert_eq!(
        customer_of(&app, &token).await["profilePhoto"],
        json!(photo_url(&app, &b))
    );
}

async fn concurrent_attaches_leave_exactly_one_photo(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("race@example.com");
    let (first, _) = set_photo(&app, &token, png(100)).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(upload_image(&app, &token, "image/png", png(200 + i)).await);
    }
    // An upload that is not attached is not "the previous photo".
    let pending = upload_image(&app, &token, "image/png", png(50)).await;

    let answers =
        futures_util::future::join_all(ids.iter().map(|id| attach(&app, &token, id))).await;
    for answer in answers {
        json_of(answer, 200).await;
    }
    let photo = customer_of(&app, &token).await["profilePhoto"]
        .as_str()
        .expect("a photo")
        .to_owned();
    let winner = ids
        .iter()
        .find(|id| photo == photo_url(&app, id))
        .unwrap_or_else(|| panic!("{photo} is none of the attached ids"));
    let mut expected = vec![key(winner), key(&pending)];
    expected.sort();
    assert_eq!(stored_keys(&app).await, expected);
    assert_eq!(object_rows(&app).await, 2);
    assert_eq!(cleanup_rows(&app).await, 0);
    assert_eq!(fetch(&app, winner).await.status(), 200);
    for id in ids.iter().chain([&first]).filter(|id| *id != winner) {
        assert_released(&app, id).await;
    }
}

async fn delete_removes_the_photo_and_its_object(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (customer, token) = app.customer_with_token("detach@example.com");
    let (id, _) = set_photo(&app, &token, png(600)).await;

    let body = json_of(delete_photo(&app, &token).await, 200).await;
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["data"]["customer"]["id"], customer["id"]);
    assert_eq!(body["data"]["customer"]["profilePhoto"], Value::Null);
    assert_eq!(customer_of(&app, &token).await, body["data"]["customer"]);
    assert_eq!(stored_keys(&app).await, Vec::<String>::new());
    assert_released(&app, &id).await;
    assert_eq!(object_rows(&app).await, 0);
    assert_eq!(cleanup_rows(&app).await, 0);

    // Deleting again is fine and still answers null.
    let again = json_of(delete_photo(&app, &token).await, 200).await;
    assert_eq!(again["data"]["customer"]["profilePhoto"], Value::Null);
}

async fn delete_without_a_photo_answers_null(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (customer, token) = app.customer_with_token("nophoto@example.com");
    // An unattached upload is not the photo and survives the delete.
    let pending = upload_image(&app, &token, "image/png", png(100)).await;

    let body = json_of(delete_photo(&app, &token).await, 200).await;
    assert_eq!(body["data"]["customer"]["id"], customer["id"]);
    assert_eq!(body["data"]["customer"]["profilePhoto"], Value::Null);
    assert_eq!(stored_keys(&app).await, vec![key(&pending)]);

    // A photo given as an external URL is removed too.
    let url = "https://cdn.example.com/a.png";
    json_of(
        app.patch_profile(&token, &json!({ "profilePhoto": url }))
            .await,
        200,
    )
    .await;
    let body = json_of(delete_photo(&app, &token).await, 200).await;
    assert_eq!(body["data"]["customer"]["profilePhoto"], Value::Null);
    assert_eq!(customer_of(&app, &token).await["profilePhoto"], Value::Null);
}

async fn patch_null_releases_the_uploaded_photo(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("patchnull@example.com");
    let (id, _) = set_photo(&app, &token, png(600)).await;

    let body = json_of(
        app.patch_profile(&token, &json!({ "profilePhoto": null }))
            .await,
        200,
    )
    .await;
    assert_eq!(body["data"]["customer"]["profilePhoto"], Value::Null);
    assert_released(&app, &id).await;
    assert_eq!(stored_keys(&app).await, Vec::<String>::new());
    assert_eq!(object_rows(&app).await, 0);
    assert_eq!(cleanup_rows(&app).await, 0);
}

async fn patch_external_url_releases_the_uploaded_photo(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("patchurl@example.com");
    let (id, _) = set_photo(&app, &token, png(600)).await;

    let url = "https://cdn.example.com/a.png";
    let body = json_of(
        app.patch_profile(&token, &json!({ "profilePhoto": url }))
            .await,
        200,
    )
    .await;
    assert_eq!(body["data"]["customer"]["profilePhoto"], json!(url));
    assert_eq!(customer_of(&app, &token).await["profilePhoto"], json!(url));
    assert_released(&app, &id).await;
    assert_eq!(stored_keys(&app).await, Vec::<String>::new());
    assert_eq!(object_rows(&app).await, 0);
    assert_eq!(cleanup_rows(&app).await, 0);

    // Deleting the external photo later deletes nothing else.
    let other = upload_image(&app, &token, "image/png", png(100)).await;
    json_of(delete_photo(&app, &token).await, 200).await;
    assert_eq!(stored_keys(&app).await, vec![key(&other)]);
}

async fn patch_of_other_fields_keeps_the_photo(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("keep@example.com");
    let (id, _) = set_photo(&app, &token, png(900)).await;
    let url = photo_url(&app, &id);

    let body = json_of(
        app.patch_profile(&token, &json!({ "firstName": "Ada" }))
            .await,
        200,
    )
    .await;
    assert_eq!(body["data"]["customer"]["firstName"], json!("Ada"));
    assert_eq!(body["data"]["customer"]["profilePhoto"], json!(url));
    // Setting the photo to the URL it already has is no change either.
    let body = json_of(
        app.patch_profile(&token, &json!({ "profilePhoto": url, "lastName": "L" }))
            .await,
        200,
    )
    .await;
    assert_eq!(body["data"]["customer"]["profilePhoto"], json!(url));

    let served = fetch(&app, &id).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().to_vec(), png(900));
    assert_eq!(stored_keys(&app).await, vec![key(&id)]);
    assert_eq!(object_rows(&app).await, 1);

    // It is still the uploaded photo: deleting it still deletes the object.
    json_of(delete_photo(&app, &token).await, 200).await;
    assert_released(&app, &id).await;
    assert_eq!(object_rows(&app).await, 0);
}

async fn a_released_id_cannot_be_attached_again(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("released@example.com");
    let (a, _) = set_photo(&app, &token, png(300)).await;
    let (b, data) = set_photo(&app, &token, png(400)).await;

    // A was replaced by B.
    assert_error(attach(&app, &token, &a).await, 400, "invalid_storage_id").await;
    assert_eq!(customer_of(&app, &token).await, data["customer"]);
    assert_eq!(fetch(&app, &b).await.status(), 200);

    // B was deleted.
    json_of(delete_photo(&app, &token).await, 200).await;
    assert_error(attach(&app, &token, &b).await, 400, "invalid_storage_id").await;

    // C was released by PATCH.
    let (c, _) = set_photo(&app, &token, png(500)).await;
    json_of(
        app.patch_profile(&token, &json!({ "profilePhoto": null }))
            .await,
        200,
    )
    .await;
    assert_error(attach(&app, &token, &c).await, 400, "invalid_storage_id").await;

    assert_eq!(customer_of(&app, &token).await["profilePhoto"], Value::Null);
    assert_eq!(stored_keys(&app).await, Vec::<String>::new());
    assert_eq!(object_rows(&app).await, 0);
}
