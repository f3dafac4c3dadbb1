"""Batch: many photos at once; a sortable table of predictions with thumbnails, and a CSV download.

An unreadable file becomes a row with a one-line error; it never stops the batch.
"""

from __future__ import annotations

import streamlit as st

from facefake_core import CONFIG, FacefakeError
from facefake_core.imaging import png_bytes, thumbnail

from dashboard import inputs, mode, state, tables
from dashboard.pickers import IMAGE_TYPES
from dashboard.widgets import require_model

THUMB_PX = 96


def main() -> None:
    st.title("Batch")
    model = require_model()
    if model is None:
        return
    ups = st.file_uploader("Photos", type=IMAGE_TYPES, accept_multiple_files=True, key="batch_uploads")
    if not ups:
        st.info("Upload photos (as many as you like) to get a table of predictions.")
        return
    if mode.public() and len(ups) > CONFIG.public_batch_max:
        st.info(f"This server predicts at most {CONFIG.public_batch_max} photos at once: showing the first "
                f"{CONFIG.public_batch_max} of {len(ups)}.")
        ups = ups[:CONFIG.public_batch_max]
    sha = model.info.sha256
    results: list[tables.Result] = []
    bar = st.progress(0.0, text="Predicting")
    for i, up in enumerate(ups):
        try:
            photo = state.photo(up.getvalue(), up.name)
            pred = state.predict(model, sha, photo, photo.sha256)
            results.append(tables.Result(up.name, pred.probs, thumb=inputs.data_uri(
                png_bytes(thumbnail(photo.pixels, THUMB_PX)))))
        except FacefakeError as err:
            results.append(tables.Result(up.name, error=mode.say(err)))
        bar.progress((i + 1) / len(ups), text=f"Predicting · {i + 1} / {len(ups)}")
    bar.empty()
    frame = tables.prediction_frame(results, model.vocab)
    failed = sum(1 for r in results if r.error)
    st.caption(f"{len(results)} files · {failed} unreadable · click a column header to sort")
    st.dataframe(frame, hide_index=True, row_height=THUMB_PX // 2 + 8, column_config={
        tables.THUMB: st.column_config.ImageColumn(tables.THUMB, width="small"),
        **{f"P({c})": st.column_config.NumberColumn(format="%.3f") for c in model.vocab}})
    st.download_button("Download the table (CSV)", data=tables.csv_bytes(frame), file_name="predictions.csv",
                       mime="text/csv", key="batch_csv")


main()
