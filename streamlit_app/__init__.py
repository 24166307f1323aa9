"""The Streamlit UI of the segmentation service: `streamlit run streamlit_app/app.py`.

It talks to the gRPC server only through `segmentation_client`.
"""
