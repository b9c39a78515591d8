"""The identity examples: compare two faces, best of N with the identity gate, build and save an identity."""

from __future__ import annotations

from .graph import Workflow
from .parts import average, consistency, detect, embed, loaders, loaders_and_reference, photo


def compare_two_faces() -> Workflow:
    wf = Workflow("compare_two_faces")
    recognizer, detector = loaders(wf, 0, 0)
    photo_a = photo(wf, (0, 520), "Photo A", "face_identity_person_a_1.jpg")
    photo_b = photo(wf, (0, 880), "Photo B", "face_identity_person_a_2.jpg")
    embed_a = embed(wf, (360, 200), recognizer, detector, photo_a, "Face Embed A")
    embed_b = embed(wf, (360, 460), recognizer, detector, photo_b, "Face Embed B")
    compare = wf.add(
        "FaceIdentity_IdentitySimilarity", (720, 300), identity_a=(embed_a, 0), identity_b=(embed_b, 0), threshold=0.4
    )
    wf.add("PreviewAny", (1080, 200), title="Similarity report", source=(compare, 2))
    wf.add("PreviewImage", (1080, 460), title="Similarity chart", images=(compare, 3))
    faces = detect(wf, (360, 760), photo_a, detector)
    preview = wf.add(
        "FaceIdentity_PreviewFaces", (720, 760), image=(photo_a, 0), faces=(faces, 0), show_scores=True, show_landmarks=True
    )
    wf.add("PreviewImage", (1080, 840), title="Faces found in photo A", images=(preview, 0))
    return wf


def best_of_n_identity_check() -> Workflow:
    wf = Workflow("best_of_n_identity_check")
    recognizer, detector, reference = loaders_and_reference(wf)
    candidates = [
        photo(wf, (360, 520 + 360 * i), f"Candidate {i}", name)
        for i, name in enumerate(("face_identity_person_a_2.jpg", "face_identity_person_b.jpg", "face_identity_person_a_3.jpg"))
    ]
    batch = wf.add("ImageBatch", (720, 560), image1=(candidates[0], 0), image2=(candidates[1], 0))
    batch = wf.add(
        "ImageBatch", (720, 800), title="Candidates (in practice: VAE Decode)", image1=(batch, 0), image2=(candidates[2], 0)
    )
    reference_identity = embed(wf, (360, 120), recognizer, detector, reference, "Reference identity")
    check = consistency(wf, (1080, 200), reference_identity, batch, recognizer, detector)
    wf.add("PreviewImage", (1440, 0), title="Best image", images=(check, 0))
    wf.add("SaveImage", (1440, 360), title="Images that passed", images=(check, 1), filename_prefix="face_identity_passed")
    wf.add("PreviewImage", (1440, 720), title="Scores chart", images=(check, 6))
    wf.add("PreviewAny", (1800, 200), title="Scores", source=(check, 5))
    wf.add("PreviewAny", (1800, 480), title="Gate result (what passed, what was blocked)", source=(check, 7))
    return wf


def build_and_save_identity() -> Workflow:
    wf = Workflow("build_and_save_identity")
    recognizer, detector = loaders(wf, 0, 0)
    embeds = []
    for i, name in enumerate(("face_identity_person_a_1.jpg", "face_identity_person_a_2.jpg", "face_identity_person_a_3.jpg")):
        image = photo(wf, (360, 360 * i), f"Photo {i + 1}", name)
        embeds.append(embed(wf, (720, 60 + 300 * i), recognizer, detector, image))
    averaged = average(wf, (1080, 300), embeds, min_similarity=0.2)
    save = wf.add(
        "FaceIdentity_SaveIdentity",
        (1440, 200),
        identity=(averaged, 0),
        name="example_person",
        file_format="face_identity",
        if_exists="new name",
    )
    wf.add("PreviewAny", (1800, 200), title="Saved file", source=(save, 0))
    compare = wf.add(
        "FaceIdentity_IdentitySimilarity", (1440, 500), identity_a=(averaged, 0), identity_b=(embeds[0], 0), threshold=0.4
    )
    wf.add("PreviewAny", (1800, 500), title="Average vs photo 1", source=(compare, 2))
    return wf
