"""The products resource: list, create, read, change (labels, hidden, expiry) and delete."""

from __future__ import annotations

from flask import Blueprint, url_for

from serving.api.errors import ApiError
from serving.api.pagination import page
from serving.api.schemas import Created, PageQuery, Product, ProductCreate, ProductPatch
from serving.api.spec import endpoint
from serving.api.users import create_entity, update_entity
from serving.runtime.state import services

bp = Blueprint("products", __name__)


@bp.get("/products")
@endpoint(
    "List products, ascending by id (keyset pagination)",
    tag="products",
    query=PageQuery,
    responses={200: ("A page of products", list[Product])},
)
def list_products(query: PageQuery):
    store = services().store
    return page(store.list_products, query, store.count_products())


@bp.post("/products")
@endpoint(
    "Create a product; the optional JSON body may carry external_id, category, labels, hidden,"
    " expires_at and attributes",
    tag="products",
    body=ProductCreate,
    body_required=False,
    responses={201: ("The new product's id", Created), 409: ("external_id is taken", None)},
)
def create_product(body: ProductCreate):
    product = create_entity(services().store.create_product, body)
    location = url_for("products.get_product", product_id=product["id"])
    return {"id": product["id"]}, 201, {"Location": location}


@bp.get("/products/<id:product_id>")
@endpoint("Read a product", tag="products", responses={200: ("The product", Product)})
def get_product(product_id: int):
    product = services().store.get_product(product_id)
    if product is None:
        raise ApiError.unknown_product(product_id)
    return product


@bp.patch("/products/<id:product_id>")
@endpoint(
    "Change a product: a JSON merge patch of external_id, category, labels (replaced whole),"
    " hidden, expires_at and attributes (null removes or clears one); in effect at the next"
    " recommendation",
    tag="products",
    body=ProductPatch,
    responses={200: ("The changed product", Product), 409: ("external_id is taken", None)},
)
def update_product(product_id: int, body: ProductPatch):
    product = update_entity(services().store.update_product, product_id, body)
    if product is None:
        raise ApiError.unknown_product(product_id)
    return product


@bp.delete("/products/<id:product_id>")
@endpoint(
    "Delete a product and its activities",
    tag="products",
    responses={204: ("Deleted", None)},
)
def delete_product(product_id: int):
    if not services().store.delete_product(product_id):
        raise ApiError.unknown_product(product_id)
    return "", 204
